package mesh_test

import (
	"fmt"
	"testing"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// BenchmarkThroughputSecret measures cross-node publish/subscribe
// throughput over routes sealed by Options.Secret (see meshbench.Throughput:
// publisher on node 0, subscriber on node 1, both nats.go over TCP) for
// 128 B and 16 KiB messages on three 2-node clusters side by side:
// natsmesh with a Secret, raw nats-server with its own route TLS
// configured by hand (a CA and leaf certificates made at run time,
// Cluster.TLSConfig requiring and verifying client certificates: see
// meshbench.RawTLS) and plain natsmesh. No hooks on either natsmesh
// cluster. Each iteration sends one batch (20000 messages of 128 B, 2000
// of 16 KiB) through each, rotating which goes first.
//
// Reported: "secret-msgs/s", "rawtls-msgs/s" and "plain-msgs/s" (total
// messages over total time) and, as medians over iterations of the ratio
// within one iteration, "secret/rawtls" (target: at least 0.95) and
// "secret/plain" (what sealing the routes costs). -benchtime 30x or more
// gives stable ratios.
//
// Under the race detector (CI's smoke pass) batches are a tenth as long:
// its figures mean nothing there, and TLS under -race is slow enough that
// full batches would take tens of seconds.
func BenchmarkThroughputSecret(b *testing.B) {
	for _, size := range []int{128, 16 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			batch := 20000
			if size > 1024 {
				batch = 2000
			}
			if raceEnabled() {
				batch /= 10
			}
			t, err := mb.NewThroughput(size, batch, mb.MeshSecret, mb.RawTLS, mb.Mesh)
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
			b.ReportMetric(t.Rate(mb.MeshSecret), "secret-msgs/s")
			b.ReportMetric(t.Rate(mb.RawTLS), "rawtls-msgs/s")
			b.ReportMetric(t.Rate(mb.Mesh), "plain-msgs/s")
			b.ReportMetric(t.Ratio(mb.MeshSecret, mb.RawTLS), "secret/rawtls")
			b.ReportMetric(t.Ratio(mb.MeshSecret, mb.Mesh), "secret/plain")
		})
	}
}

// BenchmarkFormationSecret measures the time from a cold start to a full
// 3-node mesh with Options.Secret (see meshbench.Form), against plain
// natsmesh, the raw idiom (plaintext nats-server embedded the documented
// way, BenchmarkFormation's baseline) and the raw idiom with route TLS
// configured by hand (its certificates made before the clock starts).
// Each iteration forms all four, rotating which goes first, and shuts them
// down untimed. Reported: the median formation time of each ("secret-ms",
// "plain-ms", "raw-ms", "rawtls-ms") and the ratios of the medians
// "secret/raw" (target: at most 0.3), "secret/plain" and "secret/rawtls".
func BenchmarkFormationSecret(b *testing.B) {
	// A sub-benchmark, as in BenchmarkFormation: -bench Formation/nodes=32
	// must not run this one.
	b.Run("nodes=3", func(b *testing.B) {
		med := formationMedians(b, 3, mb.MeshSecret, mb.Mesh, mb.Raw, mb.RawTLS)
		secret, plain, raw, rawTLS := med[0], med[1], med[2], med[3]
		b.ReportMetric(mb.Ms(secret), "secret-ms")
		b.ReportMetric(mb.Ms(plain), "plain-ms")
		b.ReportMetric(mb.Ms(raw), "raw-ms")
		b.ReportMetric(mb.Ms(rawTLS), "rawtls-ms")
		b.ReportMetric(float64(secret)/float64(raw), "secret/raw")
		b.ReportMetric(float64(secret)/float64(plain), "secret/plain")
		b.ReportMetric(float64(secret)/float64(rawTLS), "secret/rawtls")
	})
}
