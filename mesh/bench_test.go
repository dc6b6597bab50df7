package mesh_test

// Benchmarks of natsmesh against nats-server embedded by hand, each with
// its baseline in the same run. What is measured, and how, is documented
// in package internal/meshbench, which these benchmarks and examples/bench
// share; BENCHMARKS.md at the repository root shows the latest figures.
//
//	go test -run '^$' -bench . ./mesh/...
//
// Custom metrics carry the figures: mesh-* for natsmesh, raw-* for the
// baseline, and a ratio. ns/op is the wall time of one iteration, which
// usually does the same work on both sides and so is not itself a figure.

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// BenchmarkFormation measures the time from a cold start to a full mesh for
// 3, 9 and 32 nodes, natsmesh against raw nats-server (see meshbench.Form).
// Each iteration forms both, alternating which goes first, and shuts them
// down untimed. Reported: the median formation time of each side
// ("mesh-ms", "raw-ms") and their ratio ("mesh/raw").
//
// Targets: mesh/raw ≤ 0.15 at 3 nodes, ≤ 0.5 at 32 (issue 12; as for
// BenchmarkFormationSequential).
//
// Under the race detector (CI's smoke pass) nodes=32 is skipped: its
// timings mean nothing there, and with the mesh's default 1 s route pings
// the slowed-down servers drop routes as stale, so the 32-node mesh takes
// from seconds to longer than meshbench.Wait to settle.
func BenchmarkFormation(b *testing.B) {
	for _, n := range []int{3, 9, 32} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if n > 9 && raceEnabled() {
				b.Skip("skipped under the race detector: see the doc comment")
			}
			compareTimes(b, b.N, "ms", func(kind mb.Kind, _ int) (time.Duration, error) {
				c, d, err := mb.Form(kind, n)
				if err != nil {
					return 0, err
				}
				b.StopTimer()
				c.Close()
				b.StartTimer()
				return d, nil
			})
		})
	}
}

// BenchmarkFormationSequential is BenchmarkFormation with the nodes
// started one after another, as an application's code naturally does (see
// meshbench.FormSequential): node 0, then node 1 once node 0's start has
// returned, and so on. Reported as in BenchmarkFormation. (Its
// sub-benchmarks are "n=3" and "n=32", so that -bench Formation/nodes=32
// does not run them.)
//
// Targets: mesh/raw ≤ 0.15 at 3 nodes, ≤ 0.5 at 32.
func BenchmarkFormationSequential(b *testing.B) {
	for _, n := range []int{3, 32} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n > 9 && raceEnabled() {
				b.Skip("skipped under the race detector: see BenchmarkFormation")
			}
			compareTimes(b, b.N, "ms", func(kind mb.Kind, _ int) (time.Duration, error) {
				return mb.TimeFormationSequential(kind, n)
			})
		})
	}
}

// BenchmarkFormationFloor is BenchmarkFormation (concurrent start) with a
// third side, the floor: nats-server embedded the same documented way but
// with routes as natsmesh configures them, one connection per peer
// (meshbench.RawOneRoute). What natsmesh adds on top of its own server's
// route work is mesh/floor; floor/raw is how far its route settings alone
// take a formation from the documented idiom. Each iteration forms all
// three (meshbench.FormationRound), rotating which goes first. Reported (medians): "mesh-ms",
// "floor-ms", "raw-ms", "mesh/raw", "floor/raw" and "mesh/floor".
// Sub-benchmarks "n=3" and "n=32" (so that -bench Formation/nodes=32 does
// not run them); n=32 is skipped under the race detector, as in
// BenchmarkFormation.
//
// No target: it is the measure behind BENCHMARKS.md's account of the
// 32-node target (≤ 0.5× raw), which sits at or below floor/raw here.
func BenchmarkFormationFloor(b *testing.B) {
	for _, n := range []int{3, 32} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n > 9 && raceEnabled() {
				b.Skip("skipped under the race detector: see BenchmarkFormation")
			}
			med := formationMedians(b, n, mb.Mesh, mb.RawOneRoute, mb.Raw)
			m, f, r := med[0], med[1], med[2]
			b.ReportMetric(mb.Ms(m), "mesh-ms")
			b.ReportMetric(mb.Ms(f), "floor-ms")
			b.ReportMetric(mb.Ms(r), "raw-ms")
			b.ReportMetric(float64(m)/float64(r), "mesh/raw")
			b.ReportMetric(float64(f)/float64(r), "floor/raw")
			b.ReportMetric(float64(m)/float64(f), "mesh/floor")
		})
	}
}

// formationMedians forms an n-node cluster of every kind at each of b.N
// iterations (meshbench.FormationRound, rotating which goes first) and
// returns the median formation time of each kind, in the order of kinds.
func formationMedians(b *testing.B, n int, kinds ...mb.Kind) []time.Duration {
	b.Helper()
	durs := make([][]time.Duration, len(kinds))
	for i := range b.N {
		ds, err := mb.FormationRound(i, n, kinds...)
		if err != nil {
			b.Fatal(err)
		}
		for k, d := range ds {
			durs[k] = append(durs[k], d)
		}
	}
	med := make([]time.Duration, len(kinds))
	for k := range kinds {
		med[k] = mb.Percentile(durs[k], 50)
	}
	return med
}

// startsPerOp is how many starts of each side one iteration of
// BenchmarkStart times.
const startsPerOp = 10

// BenchmarkStart measures what mesh.Start costs against a bare
// nats-server start with the same listeners (see meshbench.TimeStart): 10
// starts of each side per iteration, alternating, each shut down untimed.
// Reported: the median start of each side ("mesh-ms", "raw-ms") and their
// ratio ("mesh/raw").
//
// Target: mesh/raw ≤ 1.3.
func BenchmarkStart(b *testing.B) {
	compareTimes(b, b.N*startsPerOp, "ms", mb.TimeStart)
}

// alternate returns kinds in order for even i and reversed for odd i, so
// that neither side of a comparison always goes first.
func alternate[T any](i int, a, b T) []T {
	if i%2 == 0 {
		return []T{a, b}
	}
	return []T{b, a}
}

// peerEventsPerOp is how many join/leave cycles one iteration of
// BenchmarkPeerEventLatency runs: enough that even -benchtime=1x gives a
// p99 that is not simply the maximum.
const peerEventsPerOp = 100

// BenchmarkPeerEventLatency measures how soon PeerJoined and PeerLeft
// follow the route state (see meshbench.Membership). Each iteration is 100
// cycles of a new peer joining a long-lived node and being shut down.
// Reported over every cycle: "join-p50-ms", "join-p99-ms", "join-max-ms",
// "left-p50-ms", "left-p99-ms" and the number of "samples".
//
// There is no raw figure: nats-server has no hooks, so an application
// embedding it by hand learns of peers only as fast as it polls.
//
// Run it alone (-bench PeerEventLatency) for the target's figure: after
// the 32-node formations of the benchmarks above in the same process, its
// p99 is longer, because Go keeps the descriptors of all their goroutines
// and every garbage collection walks them (see BENCHMARKS.md).
//
// Target: p99 ≤ 5 ms for both.
func BenchmarkPeerEventLatency(b *testing.B) {
	m, err := mb.NewMembership()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	joins := make([]time.Duration, 0, b.N*peerEventsPerOp)
	leaves := make([]time.Duration, 0, b.N*peerEventsPerOp)
	b.ResetTimer()
	for range b.N * peerEventsPerOp {
		j, l, err := m.Cycle()
		if err != nil {
			b.Fatal(err)
		}
		joins, leaves = append(joins, j), append(leaves, l)
	}
	b.StopTimer()
	b.ReportMetric(mb.Ms(mb.Percentile(joins, 50)), "join-p50-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(joins, 99)), "join-p99-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(joins, 100)), "join-max-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(leaves, 50)), "left-p50-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(leaves, 99)), "left-p99-ms")
	b.ReportMetric(float64(len(joins)), "samples")
}

// idleNodes is the cluster size of BenchmarkIdleMemory.
const idleNodes = 9

// BenchmarkIdleMemory measures what an idle node costs (see
// meshbench.IdleMemory): a 9-node cluster with no clients, after 200 ms of
// idling, per node. Each iteration measures both sides, alternating which
// goes first. Reported (medians): live heap "mesh-KiB/node",
// "raw-KiB/node" and their ratio "heap-mesh/raw"; resident set
// "mesh-rss-KiB/node" and "raw-rss-KiB/node"; "mesh-goroutines/node" and
// "raw-goroutines/node". No target: it is a figure to know.
func BenchmarkIdleMemory(b *testing.B) {
	var mesh, raw []mb.Memory
	for i := 0; i < b.N; i++ {
		for _, kind := range alternate(i, mb.Mesh, mb.Raw) {
			m, err := mb.IdleMemory(kind, idleNodes, 200*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			if kind == mb.Mesh {
				mesh = append(mesh, m)
			} else {
				raw = append(raw, m)
			}
		}
	}
	med := mb.MedianOf[mb.Memory]
	heap := func(m mb.Memory) float64 { return m.HeapBytes / 1024 }
	rss := func(m mb.Memory) float64 { return m.RSSBytes / 1024 }
	gr := func(m mb.Memory) float64 { return m.Goroutines }
	b.ReportMetric(med(mesh, heap), "mesh-KiB/node")
	b.ReportMetric(med(raw, heap), "raw-KiB/node")
	b.ReportMetric(med(mesh, heap)/med(raw, heap), "heap-mesh/raw")
	b.ReportMetric(med(mesh, rss), "mesh-rss-KiB/node")
	b.ReportMetric(med(raw, rss), "raw-rss-KiB/node")
	b.ReportMetric(med(mesh, gr), "mesh-goroutines/node")
	b.ReportMetric(med(raw, gr), "raw-goroutines/node")
}

// BenchmarkResume measures how long a subscriber goes without messages
// when its node shuts down (see meshbench.Resume): mesh Node.Shutdown
// against raw Server.Shutdown, with a TCP subscriber (ReconnectWait 10 ms)
// and a publisher on another node publishing every 100 µs. Each iteration
// measures both, alternating which goes first. Reported: medians
// "mesh-ms" and "raw-ms", and "mesh/raw". No target: it is a figure to
// know.
func BenchmarkResume(b *testing.B) {
	compareTimes(b, b.N, "ms", func(kind mb.Kind, _ int) (time.Duration, error) { return mb.Resume(kind) })
}

// compareTimes times natsmesh (mb.Mesh) and raw nats-server (mb.Raw) once
// each in every one of rounds rounds, taking turns at going first
// (alternate), with timeOne(kind, round), and reports the median of each
// side in milliseconds as "mesh-"+unit and "raw-"+unit, and their ratio as
// "mesh/raw".
func compareTimes(b *testing.B, rounds int, unit string, timeOne func(kind mb.Kind, round int) (time.Duration, error)) {
	b.Helper()
	durs := map[mb.Kind][]time.Duration{}
	for i := range rounds {
		for _, kind := range alternate(i, mb.Mesh, mb.Raw) {
			d, err := timeOne(kind, i)
			if err != nil {
				b.Fatal(kind, ": ", err)
			}
			durs[kind] = append(durs[kind], d)
		}
	}
	m, r := mb.Percentile(durs[mb.Mesh], 50), mb.Percentile(durs[mb.Raw], 50)
	b.ReportMetric(mb.Ms(m), "mesh-"+unit)
	b.ReportMetric(mb.Ms(r), "raw-"+unit)
	b.ReportMetric(float64(m)/float64(r), "mesh/raw")
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
