package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// row is one line of the table.
type row struct{ figure, mesh, raw, ratio, target, met string }

const notRun = "not run"

// rows turns the results into the table, figures in the order of issue
// 12: Start, formation (sequential and concurrent start), membership
// events, idle CPU, client churn and a blocked hook; then the older
// figures: throughput, round trips, memory, resume, and routes sealed by a
// Secret (formation, throughput). A step that failed has one row saying
// so instead of its figures.
func (r *results) rows() []row {
	var rows []row
	for _, sec := range []struct {
		step string // the step whose results the rows show
		rows func() []row
	}{
		{stepStart, r.startRows},
		{stepSequential, func() []row { return r.formationRows(true) }},
		{stepFormation, func() []row { return r.formationRows(false) }},
		{stepPeerEvents, r.eventRows},
		{stepIdleCPU, r.idleRows},
		{stepChurn, r.churnRows},
		{stepThroughput, r.throughputRows},
		{stepRequestReply, r.rttRows},
		{stepMemory, r.memoryRows},
		{stepResume, r.resumeRows},
		{stepSecurity, r.secureRows},
	} {
		if _, failed := r.failed[sec.step]; failed { // the error is on the log
			rows = append(rows, row{sec.step + ": not measured", "failed", "", "", "", "**no**"})
			continue
		}
		rows = append(rows, sec.rows()...)
	}
	return rows
}

// formationRows are the rows of sequential or concurrent formation: 3 and
// 32 nodes, and 9 for concurrent.
func (r *results) formationRows(seq bool) []row {
	var rows []row
	for _, f := range []struct {
		nodes int
		seq   bool
	}{{3, true}, {32, true}, {3, false}, {9, false}, {32, false}} {
		if f.seq != seq {
			continue
		}
		target, limit := "—", 0.0
		switch f.nodes {
		case 3:
			target, limit = "≤ 0.15×", 0.15
		case 32:
			target, limit = "≤ 0.5×", 0.5
		}
		order, points := "concurrent", r.formation
		if f.seq {
			order, points = "sequential", r.sequential
		}
		fig := fmt.Sprintf("Formation, %s start, %d nodes", order, f.nodes)
		p, ok := point(points, f.nodes)
		if !ok {
			rows = append(rows, row{fig, notRun, notRun, "", target, "—"})
			continue
		}
		if p.meshFails+p.rawFails > 0 {
			fig += fmt.Sprintf(" (did not form within %s: natsmesh %d, raw %d)", mb.Wait, p.meshFails, p.rawFails)
		}
		if len(p.mesh) == 0 || len(p.raw) == 0 {
			rows = append(rows, row{fig, formed(p.mesh), formed(p.raw), "", target, "**no**"})
			continue
		}
		m, rw := mb.Percentile(p.mesh, 50), mb.Percentile(p.raw, 50)
		ratio := float64(m) / float64(rw)
		met := "—"
		if limit > 0 {
			met = yesNo(ratio <= limit && p.meshFails == 0)
		}
		rows = append(rows, row{fmt.Sprintf("%s, median of %d", fig, len(p.mesh)), fmtDur(m), fmtDur(rw), fmtRatio(ratio), target, met})
		if len(p.floor) > 0 && !f.seq {
			// The floor: the same servers with natsmesh's route
			// settings, without natsmesh.
			fl := mb.Percentile(p.floor, 50)
			rows = append(rows, row{
				fmt.Sprintf("Formation, concurrent start, %d nodes, vs nats-server with natsmesh's routes (one per peer), median of %d", f.nodes, len(p.floor)),
				fmtDur(m), fmt.Sprintf("%s (%s raw)", fmtDur(fl), fmtRatio(float64(fl)/float64(rw))),
				fmtRatio(float64(m) / float64(fl)), "—", "—",
			})
		}
	}

	return rows
}

// eventRows are the rows of PeerJoined and PeerLeft latency.
func (r *results) eventRows() []row {
	events := func(name string, ds []time.Duration) row {
		p50, p99 := mb.Percentile(ds, 50), mb.Percentile(ds, 99)
		return row{
			fmt.Sprintf("%s, p50 / p99 of %d", name, len(ds)),
			fmtDur(p50) + " / " + fmtDur(p99), "no hooks", "", "p99 ≤ 5 ms", yesNo(p99 <= 5*time.Millisecond),
		}
	}
	return []row{
		events("PeerJoined after the route opened", r.joins),
		events("PeerLeft after the peer's Shutdown", r.leaves),
	}
}

// throughputRows are the rows of cross-node throughput.
func (r *results) throughputRows() []row {
	var rows []row
	for _, size := range []int{128, 16 << 10} {
		t := r.tput[size]
		name := fmt.Sprintf("Throughput across nodes, %s", fmtSize(size))
		rows = append(rows,
			row{name + ", hooks off", fmtRate(t.off), fmtRate(t.raw), fmtRatio(t.offRaw), "—", "—"},
			row{name + ", every hook on", fmtRate(t.on), fmtRate(t.raw), fmtRatio(t.onRaw), "≥ 0.95×", yesNo(t.onRaw >= 0.95)})
	}

	return rows
}

// rttRows are the rows of request/reply round trips.
func (r *results) rttRows() []row {
	var rows []row
	for _, inProcess := range []bool{false, true} {
		rt := r.rtt[inProcess]
		how := "TCP"
		if inProcess {
			how = "in process"
		}
		m, rw := mb.Percentile(rt.mesh, 50), mb.Percentile(rt.raw, 50)
		rows = append(rows, row{
			fmt.Sprintf("Request/reply across nodes, %s, p50 of %d", how, len(rt.mesh)),
			fmtDur(m), fmtDur(rw), fmtRatio(float64(m) / float64(rw)), "—", "—",
		})
	}

	return rows
}

// memoryRows are the rows of an idle node's memory.
func (r *results) memoryRows() []row {
	var rows []row
	mem := func(name string, f func(mb.Memory) float64, format func(float64) string) row {
		m, rw := mb.MedianOf(r.mem[mb.Mesh], f), mb.MedianOf(r.mem[mb.Raw], f)
		ratio := ""
		if rw > 0 {
			ratio = fmtRatio(m / rw)
		}
		return row{fmt.Sprintf("Idle node (%d-node cluster), %s", r.cfg.memNodes, name), format(m), format(rw), ratio, "—", "—"}
	}
	kib := func(x float64) string { return fmt.Sprintf("%.0f KiB", x/1024) }
	rows = append(rows,
		mem("live heap", func(m mb.Memory) float64 { return m.HeapBytes }, kib),
		mem("resident set", func(m mb.Memory) float64 { return m.RSSBytes }, kib),
		mem("goroutines", func(m mb.Memory) float64 { return m.Goroutines }, func(x float64) string { return fmt.Sprintf("%.0f", x) }))

	return rows
}

// resumeRows is the row of a subscriber resuming after its node's
// Shutdown.
func (r *results) resumeRows() []row {
	m, rw := mb.Percentile(r.resume[mb.Mesh], 50), mb.Percentile(r.resume[mb.Raw], 50)
	return []row{{
		fmt.Sprintf("Subscriber resumes after its node's Shutdown, median of %d", len(r.resume[mb.Mesh])),
		fmtDur(m), fmtDur(rw), fmtRatio(float64(m) / float64(rw)), "—", "—",
	}}
}

// point returns the point of n nodes among points, if it was measured
// (formed, or tried and failed).
func point(points []formationPoint, n int) (formationPoint, bool) {
	for _, p := range points {
		if p.nodes == n && len(p.mesh)+len(p.raw)+p.meshFails+p.rawFails > 0 {
			return p, true
		}
	}
	return formationPoint{}, false
}

// formed is the median of ds, or "did not form" if it is empty.
func formed(ds []time.Duration) string {
	if len(ds) == 0 {
		return "did not form"
	}
	return fmtDur(mb.Percentile(ds, 50))
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func fmtRatio(x float64) string { return fmt.Sprintf("%.2f×", x) }

// fmtDur prints d in ms or µs with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch ms := mb.Ms(d); {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", mb.Us(d))
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

func fmtRate(x float64) string {
	if x >= 1e6 {
		return fmt.Sprintf("%.2f M msg/s", x/1e6)
	}
	return fmt.Sprintf("%.1f k msg/s", x/1e3)
}

func fmtSize(b int) string {
	if b >= 1024 {
		return fmt.Sprintf("%d KiB", b/1024)
	}
	return fmt.Sprintf("%d B", b)
}

// printTable writes rows as a Markdown table with aligned columns, so it
// reads in a terminal and pastes into BENCHMARKS.md.
func printTable(w io.Writer, rows []row) {
	head := row{"Figure", "natsmesh", "raw nats-server", "ratio", "target", "met?"}
	all := append([]row{head}, rows...)
	cells := func(r row) []string { return []string{r.figure, r.mesh, r.raw, r.ratio, r.target, r.met} }
	width := make([]int, 6)
	for _, r := range all {
		for i, c := range cells(r) {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cs []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cs {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |") // numbers right-aligned
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells(head))
	sep := make([]string, 6)
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i]-1) + ":"
		if i == 0 {
			sep[i] = strings.Repeat("-", width[i])
		}
	}
	var b strings.Builder
	b.WriteString("|")
	for _, s := range sep {
		b.WriteString(" " + s + " |")
	}
	fmt.Fprintln(w, b.String())
	for _, r := range rows {
		line(cells(r))
	}
}
