package mesh_test

import (
	"testing"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// churnFor returns how long each side of BenchmarkClientChurn and
// BenchmarkBlockedHook churns per iteration: a second, or a fifth of one
// under the race detector (CI's smoke pass, where the figures mean
// nothing).
func churnFor() time.Duration {
	if raceEnabled() {
		return 200 * time.Millisecond
	}
	return time.Second
}

// BenchmarkClientChurn measures client churn on a 3-node cluster (see
// meshbench.RunChurn): clients connecting and closing over TCP as fast as
// 8 goroutines can, natsmesh with every hook on against raw nats-server,
// both in each iteration, alternating which goes first. Reported:
// connects+disconnects per second ("hooks-cycles/s", "raw-cycles/s",
// "hooks/raw"); the process's CPU time per cycle, clients included
// ("hooks-cpu-us/cycle", "raw-cpu-us/cycle", "cpu-hooks/raw": steadier
// than the rates on a shared machine); ClientConnected and ClientDisconnected latency from the
// server's accept or close to the hook ("connect-p50-ms",
// "connect-p99-ms", "disconnect-p99-ms"); the share of connects and
// disconnects that reached a hook ("hooked/expected") and the advisories
// lost before the nodes read them ("missed", HookStats.Missed); the peak heap
// growth during the churn ("hooks-peak-KiB", "raw-peak-KiB") and what
// stayed once the hooks caught up ("hooks-after-KiB", "raw-after-KiB").
// No target: figures to know.
func BenchmarkClientChurn(b *testing.B) {
	var hooks, raw []mb.Churn
	for i := 0; i < b.N; i++ {
		for _, kind := range alternate(i, mb.MeshHooks, mb.Raw) {
			c, err := mb.RunChurn(kind, false, churnFor())
			if err != nil {
				b.Fatal(err)
			}
			if kind == mb.Raw {
				raw = append(raw, c)
			} else {
				hooks = append(hooks, c)
			}
		}
	}
	med := mb.MedianOf[mb.Churn]
	rate := func(c mb.Churn) float64 { return c.Rate() }
	peak := func(c mb.Churn) float64 { return (c.HeapPeak - c.HeapBefore) / 1024 }
	after := func(c mb.Churn) float64 { return (c.HeapAfter - c.HeapBefore) / 1024 }
	var conn, disc []time.Duration
	hooked, expected, missed := 0, 0, uint64(0)
	for _, c := range hooks {
		conn, disc = append(conn, c.ConnectLag...), append(disc, c.DisconnectLag...)
		hooked, expected, missed = hooked+c.Hooked, expected+2*c.Cycles, missed+c.Missed
	}
	b.ReportMetric(med(hooks, rate), "hooks-cycles/s")
	b.ReportMetric(med(raw, rate), "raw-cycles/s")
	b.ReportMetric(med(hooks, rate)/med(raw, rate), "hooks/raw")
	cpu := func(c mb.Churn) float64 { return float64(c.CPUPerCycle()) / 1e3 }
	b.ReportMetric(med(hooks, cpu), "hooks-cpu-us/cycle")
	b.ReportMetric(med(raw, cpu), "raw-cpu-us/cycle")
	b.ReportMetric(med(hooks, cpu)/med(raw, cpu), "cpu-hooks/raw")
	b.ReportMetric(mb.Ms(mb.Percentile(conn, 50)), "connect-p50-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(conn, 99)), "connect-p99-ms")
	b.ReportMetric(mb.Ms(mb.Percentile(disc, 99)), "disconnect-p99-ms")
	b.ReportMetric(float64(hooked)/float64(max(expected, 1)), "hooked/expected")
	b.ReportMetric(float64(missed), "missed")
	b.ReportMetric(med(hooks, peak), "hooks-peak-KiB")
	b.ReportMetric(med(raw, peak), "raw-peak-KiB")
	b.ReportMetric(med(hooks, after), "hooks-after-KiB")
	b.ReportMetric(med(raw, after), "raw-after-KiB")
}

// BenchmarkBlockedHook measures what a ClientConnected hook that blocks
// costs under the same churn (see meshbench.RunChurn with blocked): every
// node's events queue behind it. Reported: the events queued on the three
// nodes when the churn ended ("backlog"), how fast it grew
// ("backlog/s"), the live heap each queued event holds ("B/queued"),
// "dropped" (events dropped past mesh.HookBacklogLimit) and
// "warned/crowded": nodes that warned over nodes whose backlog passed
// mesh.HookBacklogWarn (1 is right: each such node warns, once; 0 when
// none passed it). The baseline is the same churn with hooks that do not
// block ("free-cycles/s"; "blocked/free" compares the churn rates: a
// blocked hook must not slow the clients).
func BenchmarkBlockedHook(b *testing.B) {
	var blocked, free []mb.Churn
	for i := 0; i < b.N; i++ {
		for _, block := range alternate(i, true, false) {
			c, err := mb.RunChurn(mb.MeshHooks, block, churnFor())
			if err != nil {
				b.Fatal(err)
			}
			if block {
				blocked = append(blocked, c)
			} else {
				free = append(free, c)
			}
		}
	}
	med := mb.MedianOf[mb.Churn]
	rate := func(c mb.Churn) float64 { return c.Rate() }
	b.ReportMetric(med(blocked, func(c mb.Churn) float64 { return float64(c.Backlog) }), "backlog")
	b.ReportMetric(med(blocked, func(c mb.Churn) float64 { return float64(c.Backlog) / c.Elapsed.Seconds() }), "backlog/s")
	b.ReportMetric(med(blocked, mb.Churn.BacklogBytes), "B/queued")
	b.ReportMetric(med(blocked, func(c mb.Churn) float64 { return float64(c.Dropped) }), "dropped")
	warned, crowded := 0, 0
	for _, c := range blocked {
		warned, crowded = warned+c.Warnings, crowded+c.Crowded
	}
	if crowded > 0 {
		b.ReportMetric(float64(warned)/float64(crowded), "warned/crowded")
	} else {
		b.ReportMetric(float64(warned), "warned/crowded")
	}
	b.ReportMetric(med(free, rate), "free-cycles/s")
	b.ReportMetric(med(blocked, rate)/med(free, rate), "blocked/free")
}
