package mesh_test

import (
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
	"github.com/natsmesh/natsmesh/options"
)

// Idle-CPU measurement: a 3-node cluster settles for idleSettle after it
// formed, then the process's CPU time (user + system, getrusage) is taken
// over idleWindow.
const (
	idleCPUNodes = 3
	idleSettle   = 500 * time.Millisecond
	idleWindow   = 2 * time.Second
)

// BenchmarkIdleCPU measures what an idle mesh costs in CPU: a 3-node mesh
// with no clients against a 3-node nats-server cluster embedded by hand
// with the same route ping settings (the mesh's defaults: a ping every
// options.DefaultPingInterval, options.DefaultMaxPingsOut unanswered). Each
// iteration measures both sides, alternating which goes first, over 2 s of
// idling after 0.5 s to settle. Reported (medians): "mesh-cpu-%" and
// "raw-cpu-%", the share of one core the process used, and their ratio
// "mesh/raw".
//
// Target: mesh/raw ≤ 1.2.
func BenchmarkIdleCPU(b *testing.B) {
	var mesh, raw []float64
	for i := 0; i < b.N; i++ {
		for _, kind := range alternate(i, mb.Mesh, mb.Raw) {
			var stop func()
			var err error
			if kind == mb.Mesh {
				stop, err = idleMesh()
			} else {
				stop, err = idleRaw()
			}
			if err != nil {
				b.Fatal(err)
			}
			share := cpuShare(idleWindow)
			stop()
			if kind == mb.Mesh {
				mesh = append(mesh, share)
			} else {
				raw = append(raw, share)
			}
		}
	}
	m, r := mb.Median(mesh), mb.Median(raw)
	b.ReportMetric(m, "mesh-cpu-%")
	b.ReportMetric(r, "raw-cpu-%")
	b.ReportMetric(m/r, "mesh/raw")
}

// cpuShare idles for idleSettle, then returns the percentage of one core
// the process used during the next window.
func cpuShare(window time.Duration) float64 {
	time.Sleep(idleSettle) // measuring idleness: nothing to wait for
	c0, t0 := cpuTime(), time.Now()
	time.Sleep(window)
	c1, t1 := cpuTime(), time.Now()
	return 100 * float64(c1-c0) / float64(t1.Sub(t0))
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleMesh starts a full 3-node mesh with default options.
func idleMesh() (stop func(), err error) {
	c, err := mb.Start(mb.Mesh, idleCPUNodes)
	if err != nil {
		return nil, err
	}
	return c.Close, nil
}

// idleRaw starts 3 nats-servers, the second and third routed to the first,
// with the mesh's route ping settings, and waits for a full mesh.
func idleRaw() (stop func(), err error) {
	var servers []*server.Server
	stop = func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	for i := range idleCPUNodes {
		o := &server.Options{
			ServerName: fmt.Sprintf("raw-%d", i),
			Host:       "127.0.0.1", Port: server.RANDOM_PORT,
			NoLog: true, NoSigs: true,
			MaxPingsOut: options.DefaultMaxPingsOut,
			Cluster: server.ClusterOpts{
				Name: "idle", Host: "127.0.0.1", Port: server.RANDOM_PORT,
				PingInterval: options.DefaultPingInterval,
			},
		}
		if i > 0 {
			o.Routes = []*url.URL{{Scheme: "nats", Host: servers[0].ClusterAddr().String()}}
		}
		s, err := server.NewServer(o)
		if err != nil {
			stop()
			return nil, err
		}
		go s.Start()
		servers = append(servers, s)
		if !s.ReadyForConnections(10 * time.Second) {
			stop()
			return nil, fmt.Errorf("raw server %d not ready within 10s", i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range servers {
		for s.NumRemotes() < idleCPUNodes-1 {
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("raw cluster not a full mesh within 10s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return stop, nil
}
