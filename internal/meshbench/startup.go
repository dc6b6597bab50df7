package meshbench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// listenPoll is how often StartTime's bare side checks whether its route
// listener is bound: as often as mesh.Start watches its own listeners, so
// the poll does not favour either side.
const listenPoll = 20 * time.Microsecond

// StartTime times starting one node alone (no seed), natsmesh against a
// bare nats-server with the same listeners, and shuts it down untimed.
//
//   - Mesh (or MeshHooks, MeshSecret): mesh.Start(options.Options{Name:
//     "start"}) until it returns, that is once the node accepts clients
//     and routes and its runtime (internal connections, membership
//     tracker, describe responder, hook dispatcher) is up.
//   - Raw: server.NewServer with loopback client and route listeners on
//     free ports and no logging, then Start (which returns once the client
//     listener is bound), then until the route listener is bound, polled
//     every 20 µs: nats-server's own start-up, without the 25 ms polls of
//     ReadyForConnections.
func StartTime(kind Kind) (time.Duration, error) {
	if kind == Raw || kind == RawTLS {
		return bareStart()
	}
	o := options.Options{Name: "start"}
	switch kind {
	case MeshHooks:
		AllHooks(&o)
	case MeshSecret:
		o.Secret = options.NewSecret()
	}
	start := time.Now()
	n, err := mesh.Start(o)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("meshbench: mesh.Start: %w", err)
	}
	n.Shutdown()
	return d, nil
}

// bareStart is StartTime's raw side.
func bareStart() (time.Duration, error) {
	start := time.Now()
	s, err := server.NewServer(&server.Options{
		ServerName: "bare",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		Cluster:    server.ClusterOpts{Name: "rawbench", Host: "127.0.0.1", Port: server.RANDOM_PORT},
	})
	if err != nil {
		return 0, fmt.Errorf("meshbench: bare server: %w", err)
	}
	s.Start()
	deadline := start.Add(Wait)
	for s.Addr() == nil || s.ClusterAddr() == nil {
		if time.Now().After(deadline) {
			s.Shutdown()
			return 0, fmt.Errorf("meshbench: bare server's listeners not bound within %s", Wait)
		}
		runtime.Gosched()
		time.Sleep(listenPoll)
	}
	d := time.Since(start)
	s.Shutdown()
	s.WaitForShutdown()
	return d, nil
}

// StartRound times one start of each kind (StartTime), starting with kind
// i mod len(kinds), and returns the durations in the order of kinds.
func StartRound(i int, kinds ...Kind) ([]time.Duration, error) {
	ds := make([]time.Duration, len(kinds))
	for j := range kinds {
		k := (i + j) % len(kinds)
		d, err := StartTime(kinds[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kinds[k], err)
		}
		ds[k] = d
	}
	return ds, nil
}
