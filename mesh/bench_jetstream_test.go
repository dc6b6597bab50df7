package mesh_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// BenchmarkJetStreamReady measures a cold start of three JetStream nodes:
// natsmesh from the first Start to WaitForJetStream on all three
// ("mesh-ready-ms") and to its first R3 stream creation
// ("mesh-first-r3-ms"), against nats-server clustered by hand (explicit
// routes to every node) reaching its first R3 stream creation
// ("raw-first-r3-ms"). Medians; "mesh/raw" compares the first R3
// creations.
func BenchmarkJetStreamReady(b *testing.B) {
	var ready, meshR3, rawR3 []time.Duration
	for i := 0; i < b.N; i++ {
		for _, kind := range alternate(i, mb.Mesh, mb.Raw) {
			c, r, first, err := mb.FormJS(kind, 3)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			c.Close()
			b.StartTimer()
			if kind == mb.Mesh {
				ready, meshR3 = append(ready, r), append(meshR3, first)
			} else {
				rawR3 = append(rawR3, first)
			}
		}
	}
	m, r := mb.Percentile(meshR3, 50), mb.Percentile(rawR3, 50)
	b.ReportMetric(mb.Ms(mb.Percentile(ready, 50)), "mesh-ready-ms")
	b.ReportMetric(mb.Ms(m), "mesh-first-r3-ms")
	b.ReportMetric(mb.Ms(r), "raw-first-r3-ms")
	b.ReportMetric(float64(m)/float64(r), "mesh/raw")
}

// jsPair is a natsmesh and a hand-made JetStream cluster of three, each
// with an R3 stream "BENCH" and a client connected (over TCP) to that
// stream's leader.
type jsPair struct {
	kinds    []mb.Kind
	clusters map[mb.Kind]*mb.JSCluster
}

func newJSPair(b *testing.B) *jsPair {
	b.Helper()
	p := &jsPair{kinds: []mb.Kind{mb.Mesh, mb.Raw}, clusters: map[mb.Kind]*mb.JSCluster{}}
	for _, kind := range p.kinds {
		c, _, _, err := mb.FormJS(kind, 3)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		p.clusters[kind] = c
	}
	return p
}

// BenchmarkJetStreamPublish measures R3 async publish throughput of
// 128-byte messages (at most 1024 unacknowledged) through a client on the
// stream leader, natsmesh against the hand-made cluster, alternating.
// Reported: "mesh-msgs/s", "raw-msgs/s" (medians of the iterations) and
// "mesh/raw". Target: mesh/raw ≥ 0.95.
func BenchmarkJetStreamPublish(b *testing.B) {
	count := 20000
	if raceEnabled() {
		count = 2000
	}
	p := newJSPair(b)
	rates := map[mb.Kind][]float64{}
	conns := map[mb.Kind]func() (time.Duration, error){}
	for _, kind := range p.kinds {
		c := p.clusters[kind]
		nc0, js0, err := c.Connect(0)
		if err != nil {
			b.Fatal(err)
		}
		leader, err := c.Stream(js0)
		nc0.Close()
		if err != nil {
			b.Fatal(err)
		}
		nc, js, err := c.Connect(max(leader, 0))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		conns[kind] = func() (time.Duration, error) { return mb.PublishAsync(js, count, 128, 1024) }
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, kind := range alternate(i, mb.Mesh, mb.Raw) {
			d, err := conns[kind]()
			if err != nil {
				b.Fatal(err)
			}
			rates[kind] = append(rates[kind], float64(count)/d.Seconds())
		}
	}
	m, r := mb.Median(rates[mb.Mesh]), mb.Median(rates[mb.Raw])
	b.ReportMetric(m, "mesh-msgs/s")
	b.ReportMetric(r, "raw-msgs/s")
	b.ReportMetric(m/r, "mesh/raw")
}

// BenchmarkJetStreamKVPut measures sequential R3 KV put latency (128
// bytes) through a client on the bucket's leader, natsmesh against the hand-made
// cluster. Reported: p50 and p99 of each ("mesh-p50-µs" ...).
func BenchmarkJetStreamKVPut(b *testing.B) {
	count := 500
	if raceEnabled() {
		count = 50
	}
	p := newJSPair(b)
	lat := map[mb.Kind][]time.Duration{}
	for i := 0; i < b.N; i++ {
		for _, kind := range alternate(i, mb.Mesh, mb.Raw) {
			ds, err := p.clusters[kind].KVPuts(count, 128)
			if err != nil {
				b.Fatal(err)
			}
			lat[kind] = append(lat[kind], ds...)
		}
	}
	for _, kind := range p.kinds {
		b.ReportMetric(mb.Us(mb.Percentile(lat[kind], 50)), kind.String()+"-p50-µs")
		b.ReportMetric(mb.Us(mb.Percentile(lat[kind], 99)), kind.String()+"-p99-µs")
	}
}

// BenchmarkJetStreamLeaderGone measures how long writes to an R3 stream
// stop while its leader goes (see meshbench.Unavailability): a natsmesh
// leader that leaves gracefully (Leave: it hands its leaderships over
// first), one that is shut down (Shutdown: nats-server steps its leaders
// down too), and the hand-made cluster's leader shut down
// (Server.Shutdown). Medians: "mesh-leave-ms" (target ≤ 1000),
// "mesh-shutdown-ms", "raw-shutdown-ms". A crashed leader is replaced
// after nats-server's election timeout, 4 to 9 s (BenchmarkJetStreamCrash).
//
// With meta=1 the meta leader goes instead, and the figure is how long
// stream creations (which the meta leader answers) stop.
func BenchmarkJetStreamLeaderGone(b *testing.B) {
	for _, meta := range []bool{false, true} {
		b.Run(fmt.Sprintf("meta=%d", boolInt(meta)), func(b *testing.B) { benchLeaderGone(b, meta) })
	}
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

func benchLeaderGone(b *testing.B, meta bool) {
	var leave, shut, raw []time.Duration
	stuck := 0
	for i := 0; i < b.N; i++ {
		for _, how := range []string{"leave", "shutdown", "raw"} {
			kind := mb.Mesh
			if how == "raw" {
				kind = mb.Raw
			}
			c, _, _, err := mb.FormJS(kind, 3)
			if err != nil {
				b.Fatal(err)
			}
			measure := c.Unavailability
			if meta {
				measure = c.MetaUnavailability
			}
			d, err := measure(func(i int) {
				switch how {
				case "leave":
					ctx, cancel := context.WithTimeout(context.Background(), mb.Wait)
					defer cancel()
					_ = c.Nodes[i].Leave(ctx)
				case "shutdown":
					c.Nodes[i].Shutdown()
				default:
					c.Servers[i].Shutdown()
					c.Servers[i].WaitForShutdown()
				}
			})
			b.StopTimer()
			c.Close()
			b.StartTimer()
			if err != nil && meta {
				// Seen once in ~10 runs of the smoke pass under -race,
				// before MetaUnavailability stopped retrying one stream
				// name forever (a stream the stopped leader had just
				// placed on itself can never be created again; see
				// there). Still counted and logged, with what the meta
				// leader lists, rather than failing the run.
				stuck++
				b.Logf("%s of the meta leader: %v", how, err)
				continue
			}
			if err != nil {
				b.Fatal(how, ": ", err)
			}
			switch how {
			case "leave":
				leave = append(leave, d)
			case "shutdown":
				shut = append(shut, d)
			default:
				raw = append(raw, d)
			}
		}
	}
	b.ReportMetric(mb.Ms(mb.Percentile(leave, 50)), "mesh-leave-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(shut, 50)), "mesh-shutdown-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(raw, 50)), "raw-shutdown-ms")
	if meta {
		b.ReportMetric(float64(stuck), "stuck-runs")
	}
}

// BenchmarkJetStreamCrash measures how long writes to an R3 stream stop
// when the node leading it and the meta group crashes (SIGKILL of its
// process: no goodbye, no leadership handed over): three examples/node
// processes with -js against
// three stock nats-server processes clustered by hand, a fresh cluster of
// each per iteration, alternating (see meshbench.CrashUnavailability).
// Reported: medians "mesh-crash-ms" and "raw-crash-ms", and "mesh/raw".
// Both wait out nats-server's raft election timeout, a random 4 to 9 s,
// so one iteration's ratio ranges from about 0.5 to 2: run with
// -benchtime=5x or more for a figure.
func BenchmarkJetStreamCrash(b *testing.B) {
	bins, err := mb.Binaries(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	compareTimes(b, b.N, "crash-ms", func(kind mb.Kind, _ int) (time.Duration, error) {
		b.StopTimer()
		c, err := mb.FormJSProcs(kind, bins)
		b.StartTimer()
		if err != nil {
			return 0, err
		}
		d, err := c.CrashUnavailability()
		b.StopTimer()
		c.Close()
		b.StartTimer()
		return d, err
	})
}
