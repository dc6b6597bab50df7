package meshbench

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/options"
)

// IdleCPU forms an n-node cluster of the given kind (Mesh or Raw) with no
// clients, lets it settle, and returns the CPU time the process used
// during window, divided by window: the share of one core the idle
// cluster costs (0.01 is 1% of a core). It closes the cluster before
// returning.
//
// The raw cluster here is not Form's: its routes are pinged as natsmesh
// pings them, Cluster.PingInterval options.DefaultPingInterval and
// MaxPingsOut options.DefaultMaxPingsOut (nats-server's default is a ping
// every 2 minutes), so both sides do the same keep-alive work; the rest is
// as StartRawServer (nats-server's pool of routes, its default system
// account). The process's whole CPU time is counted (getrusage), so
// nothing else should run meanwhile; on systems without getrusage
// IdleCPU returns an error.
func IdleCPU(kind Kind, n int, settle, window time.Duration) (float64, error) {
	if kind != Mesh && kind != Raw {
		return 0, fmt.Errorf("meshbench: idle CPU of %s, want %s or %s", kind, Mesh, Raw)
	}
	var c *Cluster
	var err error
	if kind == Raw {
		c, err = formRawPinged(n)
	} else {
		c, err = Start(kind, n)
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	time.Sleep(settle)
	before, err := cpuTime()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	time.Sleep(window)
	after, err := cpuTime()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(time.Since(start)), nil
}

// IdleCPURound measures IdleCPU for Mesh and Raw, Mesh first for even i,
// and returns mesh's share of a core, raw's.
func IdleCPURound(i, n int, settle, window time.Duration) (mesh, raw float64, err error) {
	kinds := []Kind{Mesh, Raw}
	if i%2 == 1 {
		kinds = []Kind{Raw, Mesh}
	}
	for _, k := range kinds {
		f, err := IdleCPU(k, n, settle, window)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", k, err)
		}
		if k == Mesh {
			mesh = f
		} else {
			raw = f
		}
	}
	return mesh, raw, nil
}

// formRawPinged forms a raw cluster as Form does, with natsmesh's route
// ping settings.
func formRawPinged(n int) (*Cluster, error) {
	c := &Cluster{Kind: Raw, Servers: make([]*server.Server, n)}
	err := c.formRaw(n, func(_ int, o *server.Options) {
		o.Cluster.PingInterval = options.DefaultPingInterval
		o.MaxPingsOut = options.DefaultMaxPingsOut
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
