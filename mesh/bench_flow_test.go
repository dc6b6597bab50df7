package mesh_test

import (
	"fmt"
	"testing"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// BenchmarkThroughputHooks measures cross-node publish/subscribe throughput
// (publisher on one node, subscriber on another, both nats.go over TCP; see
// meshbench.Throughput) for 128 B and 16 KiB messages on three 2-node
// clusters side by side: natsmesh with no hooks, natsmesh with every hook
// on and traffic samples every 100 ms, and raw nats-server. Each iteration
// sends one batch (20000 messages of 128 B, 2000 of 16 KiB) through each,
// rotating which goes first.
//
// Reported: "hooks-on-msgs/s", "hooks-off-msgs/s" and "raw-msgs/s" (total
// messages over total time) and, as medians over iterations of the ratio
// within one iteration, "on/raw" (target: at least 0.95), "off/raw" and
// "on/off". With few iterations the ratios are noisy (a few percent on a
// 2-core machine); -benchtime 30x or more gives stable ones.
func BenchmarkThroughputHooks(b *testing.B) {
	for _, size := range []int{128, 16 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			batch := 20000
			if size > 1024 {
				batch = 2000
			}
			t, err := mb.NewThroughput(size, batch, mb.MeshHooks, mb.Mesh, mb.Raw)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(t.Close)
			b.SetBytes(int64(3 * batch * size))
			b.ResetTimer()
			for i := range b.N {
				if err := t.Round(i); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(t.Rate(mb.MeshHooks), "hooks-on-msgs/s")
			b.ReportMetric(t.Rate(mb.Mesh), "hooks-off-msgs/s")
			b.ReportMetric(t.Rate(mb.Raw), "raw-msgs/s")
			b.ReportMetric(t.Ratio(mb.MeshHooks, mb.Raw), "on/raw")
			b.ReportMetric(t.Ratio(mb.Mesh, mb.Raw), "off/raw")
			b.ReportMetric(t.Ratio(mb.MeshHooks, mb.Mesh), "on/off")
		})
	}
}

// BenchmarkRequestReply measures the request/reply round trip across two
// nodes (requester on one, responder on the other; see
// meshbench.RoundTrip), natsmesh against raw nats-server, with both
// clients over TCP or both in process (the mesh's Node.Connect against
// nats.InProcessServer on a raw server). Each iteration makes one request
// on each, alternating which goes first. Reported: "mesh-p50-us",
// "raw-p50-us", their ratio "mesh/raw", and "mesh-p99-us", "raw-p99-us".
// No target: it is a figure to know.
func BenchmarkRequestReply(b *testing.B) {
	for _, inProcess := range []bool{false, true} {
		name := "transport=tcp"
		if inProcess {
			name = "transport=inprocess"
		}
		b.Run(name, func(b *testing.B) {
			rs, err := mb.NewRoundTrips(inProcess, 1, mb.Mesh, mb.Raw)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(rs.Close)
			b.ResetTimer()
			for i := range b.N {
				if err := rs.Round(i); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			m, r := rs.Samples(mb.Mesh), rs.Samples(mb.Raw)
			b.ReportMetric(mb.Us(mb.Percentile(m, 50)), "mesh-p50-us")
			b.ReportMetric(mb.Us(mb.Percentile(r, 50)), "raw-p50-us")
			b.ReportMetric(float64(mb.Percentile(m, 50))/float64(mb.Percentile(r, 50)), "mesh/raw")
			b.ReportMetric(mb.Us(mb.Percentile(m, 99)), "mesh-p99-us")
			b.ReportMetric(mb.Us(mb.Percentile(r, 99)), "raw-p99-us")
		})
	}
}
