package main

import (
	"fmt"
	"io"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
	"github.com/natsmesh/natsmesh/mesh"
)

// The figures of issue 12 that the older steps did not measure: Start
// against a bare nats-server, formation started one node after another,
// idle CPU with the same route pings, client churn and a blocked hook.

// measureStart times mesh.Start against a bare nats-server start
// (meshbench.StartTime), taking turns.
func measureStart(r *results, _ io.Writer) error {
	r.start = map[mb.Kind][]time.Duration{}
	for i := range r.cfg.startReps {
		ds, err := mb.StartRound(i, mb.Mesh, mb.Raw)
		if err != nil {
			return err
		}
		r.start[mb.Mesh] = append(r.start[mb.Mesh], ds[0])
		r.start[mb.Raw] = append(r.start[mb.Raw], ds[1])
	}
	return nil
}

// measureSequential times formations started one node after another
// (meshbench.FormSequential) at each of cfg.seqNodes, taking turns.
func measureSequential(r *results, log io.Writer) error {
	r.sequential = nil
	for _, n := range r.cfg.seqNodes {
		p := formationPoint{nodes: n}
		for rep := range r.cfg.formReps {
			fmt.Fprintf(log, "bench: sequential formation of %d, %d/%d\n", n, rep+1, r.cfg.formReps)
			for _, k := range alternate(rep, mb.Mesh, mb.Raw) {
				d, err := mb.TimeFormationOrder(k, n, mb.Sequential)
				p.add(k, d, err, log)
			}
		}
		r.sequential = append(r.sequential, p)
	}
	return nil
}

// measureIdleCPU measures a 3-node idle cluster's CPU, natsmesh against
// nats-server with the same route pings (meshbench.IdleCPU).
func measureIdleCPU(r *results, log io.Writer) error {
	r.cpuMesh, r.cpuRaw = nil, nil
	for i := range r.cfg.cpuReps {
		fmt.Fprintf(log, "bench: idle CPU %d/%d, %s per side\n", i+1, r.cfg.cpuReps, r.cfg.cpuWindow)
		m, rw, err := mb.IdleCPURound(i, 3, r.cfg.cpuWindow/2, r.cfg.cpuWindow)
		if err != nil {
			return err
		}
		r.cpuMesh, r.cpuRaw = append(r.cpuMesh, m), append(r.cpuRaw, rw)
	}
	return nil
}

// measureChurn runs client churn with every hook on, raw, and with a
// ClientConnected hook that blocks (meshbench.RunChurn).
func measureChurn(r *results, log io.Writer) error {
	var err error
	fmt.Fprintf(log, "bench: client churn, %s per side\n", r.cfg.churnFor)
	if r.churnHooks, err = mb.RunChurn(mb.MeshHooks, false, r.cfg.churnFor); err != nil {
		return err
	}
	if r.churnRaw, err = mb.RunChurn(mb.Raw, false, r.cfg.churnFor); err != nil {
		return err
	}
	r.churnBlocked, err = mb.RunChurn(mb.MeshHooks, true, r.cfg.churnFor)
	return err
}

func alternate[T any](i int, a, b T) []T {
	if i%2 == 0 {
		return []T{a, b}
	}
	return []T{b, a}
}

// startRows is the row of mesh.Start against a bare server.
func (r *results) startRows() []row {
	m, rw := mb.Percentile(r.start[mb.Mesh], 50), mb.Percentile(r.start[mb.Raw], 50)
	ratio := float64(m) / float64(rw)
	return []row{{
		fmt.Sprintf("mesh.Start vs bare nats-server start, median of %d", len(r.start[mb.Mesh])),
		fmtDur(m), fmtDur(rw), fmtRatio(ratio), "≤ 1.3×", yesNo(ratio <= 1.3),
	}}
}

// idleRows is the row of idle CPU.
func (r *results) idleRows() []row {
	m, rw := mb.Median(r.cpuMesh), mb.Median(r.cpuRaw)
	pct := func(x float64) string { return fmt.Sprintf("%.2f%% of a core", 100*x) }
	ratio, met := "", "—"
	if rw > 0 {
		ratio, met = fmtRatio(m/rw), yesNo(m/rw <= 1.2)
	}
	return []row{{
		fmt.Sprintf("Idle CPU, 3 nodes, same route pings, median of %d × %s", len(r.cpuMesh), r.cfg.cpuWindow),
		pct(m), pct(rw), ratio, "≤ 1.2×", met,
	}}
}

// churnRows are the rows of client churn and the blocked hook.
func (r *results) churnRows() []row {
	h, rw, b := r.churnHooks, r.churnRaw, r.churnBlocked
	rate := func(c mb.Churn) string { return fmt.Sprintf("%.0f /s", c.Rate()) }
	kib := func(x float64) string { return fmt.Sprintf("%.0f KiB", x/1024) }
	lag := func(ds []time.Duration) string {
		return fmtDur(mb.Percentile(ds, 50)) + " / " + fmtDur(mb.Percentile(ds, 99))
	}
	ratio := ""
	if rw.Rate() > 0 {
		ratio = fmtRatio(h.Rate() / rw.Rate())
	}
	cpuRatio := ""
	if rw.CPUPerCycle() > 0 {
		cpuRatio = fmtRatio(float64(h.CPUPerCycle()) / float64(rw.CPUPerCycle()))
	}
	peakRatio := ""
	if rw.HeapPeak-rw.HeapBefore > 0 {
		peakRatio = fmtRatio((h.HeapPeak - h.HeapBefore) / (rw.HeapPeak - rw.HeapBefore))
	}
	warned, met := "not reached", "—"
	if b.Crowded > 0 {
		warned, met = fmt.Sprintf("%d warnings, %d nodes past it", b.Warnings, b.Crowded), yesNo(b.Warnings == b.Crowded)
	}
	const churn = "Client churn, 3 nodes, every hook on"
	return []row{
		{churn + ": connects+closes", rate(h), rate(rw), ratio, "—", "—"},
		{churn + ": CPU per connect+close, clients included", fmtDur(h.CPUPerCycle()), fmtDur(rw.CPUPerCycle()), cpuRatio, "—", "—"},
		{fmt.Sprintf("%s: ClientConnected p50 / p99 of %d", churn, len(h.ConnectLag)), lag(h.ConnectLag), "no hooks", "", "—", "—"},
		{fmt.Sprintf("%s: ClientDisconnected p50 / p99 of %d", churn, len(h.DisconnectLag)), lag(h.DisconnectLag), "no hooks", "", "—", "—"},
		{churn + ": hook calls / connects+closes", fmt.Sprintf("%d / %d (%d missed)", h.Hooked, 2*h.Cycles, h.Missed), "no hooks", "", "all", yesNo(h.Hooked == 2*h.Cycles)},
		{churn + ": peak heap growth", kib(h.HeapPeak - h.HeapBefore), kib(rw.HeapPeak - rw.HeapBefore), peakRatio, "—", "—"},
		{"Blocked ClientConnected hook: backlog growth", fmt.Sprintf("%.0f events/s", float64(b.Backlog)/b.Elapsed.Seconds()), "no hooks", "", "—", "—"},
		{"Blocked ClientConnected hook: heap per queued event", fmt.Sprintf("%.0f B", b.BacklogBytes()), "no hooks", "", "—", "—"},
		{fmt.Sprintf("Blocked hook: most queued on a node (bound %d), events dropped", mesh.HookBacklogLimit),
			fmt.Sprintf("≤ %d, %d dropped", b.MaxBacklog, b.Dropped), "no hooks", "", "bounded", yesNo(b.MaxBacklog <= mb.ChurnNodes*(mesh.HookBacklogLimit+64))},
		{fmt.Sprintf("Blocked hook: one warning per node past %d", mesh.HookBacklogWarn), warned, "no hooks", "", "once", met},
	}
}
