// Command bench measures natsmesh against nats-server embedded by hand
// (server.NewServer, go s.Start(), s.ReadyForConnections, explicit Routes),
// both in the same run, prints the figures as a table and plots the time to
// form a full mesh against the number of nodes, as text and as an SVG.
// Every figure of issue 12 has a row with its target and whether it is
// met. With a Secret,
// natsmesh is also measured against nats-server's own route TLS configured
// by hand and against plain natsmesh.
//
//	go run ./examples/bench                    # the full run, about 2.5 minutes (2m11s-2m31s measured)
//	go run ./examples/bench -quick             # a rough run, about 30 s
//	go run ./examples/bench -svg out.svg       # where the plot goes ("" for none)
//	go run ./examples/bench -markdown          # the "Latest run" section of BENCHMARKS.md
//
// It runs the same code as the benchmarks in package mesh (go test -bench .
// ./mesh/), from package internal/meshbench, where each figure is documented.
// BENCHMARKS.md explains the table.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// config says how much of each measurement to do.
type config struct {
	nodes      []int // node counts for the formation plot
	formReps   int   // formations per node count and side
	tputRounds int   // throughput rounds (one batch on each cluster)
	tputSmall  int   // messages per batch of 128 B
	tputLarge  int   // messages per batch of 16 KiB
	requests   int   // round trips per side and transport
	peerEvents int   // join/leave cycles
	memNodes   int   // cluster size for the idle-memory figure
	memReps    int   // idle-memory measurements per side
	resumeReps int   // resume measurements per side
	seqNodes   []int // node counts of the sequential formations
	startReps  int   // Start measurements per side
	cpuReps    int   // idle CPU measurements per side
	cpuWindow  time.Duration
	churnFor   time.Duration // client churn per run
}

var (
	full = config{
		nodes: []int{3, 6, 9, 16, 32}, formReps: 10,
		tputRounds: 60, tputSmall: 20000, tputLarge: 2000,
		requests: 5000, peerEvents: 500,
		memNodes: 9, memReps: 5, resumeReps: 15,
		seqNodes: []int{3, 32}, startReps: 200,
		cpuReps: 3, cpuWindow: 3 * time.Second, churnFor: 2 * time.Second,
	}
	quick = config{
		nodes: []int{3, 9, 32}, formReps: 3,
		tputRounds: 9, tputSmall: 20000, tputLarge: 2000,
		requests: 1000, peerEvents: 200,
		memNodes: 9, memReps: 1, resumeReps: 3,
		seqNodes: []int{3, 32}, startReps: 40,
		cpuReps: 1, cpuWindow: time.Second, churnFor: time.Second,
	}
)

func main() {
	q := flag.Bool("quick", false, "a rough run, about 30 s: fewer node counts and repetitions")
	svg := flag.String("svg", "docs/formation.svg", `where to write the formation plot ("" for none)`)
	nodes := flag.String("nodes", "", "node counts for the formation plot, comma-separated (default 3,6,9,16,32; -quick 3,9,32)")
	reps := flag.Int("reps", 0, "formations per node count and side (default 10; -quick 3)")
	md := flag.Bool("markdown", false, "print the results as the \"Latest run\" section of BENCHMARKS.md")
	flag.Parse()
	cfg := full
	if *q {
		cfg = quick
	}
	if *nodes != "" {
		ns, err := parseNodes(*nodes)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		cfg.nodes = ns
	}
	if *reps > 0 {
		cfg.formReps = *reps
	}
	if err := run(cfg, os.Stdout, os.Stderr, *svg, *md); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseNodes(s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 || n > 200 {
			return nil, fmt.Errorf("-nodes: %q is not a node count from 2 to 200", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// run measures everything cfg asks for, prints the table and the text plot
// to out (progress to log), as a BENCHMARKS.md section if markdown, and
// writes the SVG plot to svgPath unless it is "".
func run(cfg config, out, log io.Writer, svgPath string, markdown bool) error {
	m := machineNote()
	fmt.Fprintf(log, "bench: %s\n", m)
	res := &results{cfg: cfg, failed: map[string]error{}}
	began := time.Now()
	steps := []struct {
		what string
		do   func(*results, io.Writer) error
	}{
		{stepStart, measureStart},
		// Membership latency and idle CPU before the formations: they
		// measure a quiet process, and this program's own 32-node
		// formations (up to about 7,800 goroutines at once, most in the
		// raw idiom's clusters) leave Go's runtime with residue that a
		// process running one node does not carry. It keeps every
		// goroutine descriptor it had and each later garbage collection
		// walks them (PeerJoined p99 from about 5 to about 7.5 ms here,
		// as after spawning and ending 12,000 bare goroutines), and for
		// some seconds it returns the formations' memory to the OS
		// (madvise) and collects, on the clock of whichever idle cluster
		// runs first (idle CPU 1.5x where it is 0.8x). See BENCHMARKS.md.
		{stepPeerEvents, measurePeerEvents},
		{stepIdleCPU, measureIdleCPU},
		{stepFormation, measureFormation},
		{stepSequential, measureSequential},
		{stepChurn, measureChurn},
		{stepThroughput, measureThroughput},
		{stepRequestReply, measureRequestReply},
		{stepMemory, measureMemory},
		{stepResume, measureResume},
		{stepSecurity, measureSecurity},
	}
	// A step that fails (a mesh that did not form on a loaded machine)
	// does not lose the others' figures: its rows say it failed, and run
	// returns an error once everything is printed.
	var failed []string
	for _, s := range steps {
		start := time.Now()
		if err := s.do(res, log); err != nil {
			fmt.Fprintf(log, "bench: %s failed: %v\n", s.what, err)
			res.failed[s.what] = err
			failed = append(failed, s.what)
			continue
		}
		fmt.Fprintf(log, "bench: %s done in %s\n", s.what, time.Since(start).Round(time.Millisecond))
	}
	if markdown {
		printMarkdown(out, res, m, time.Since(began), svgPath)
	} else {
		fmt.Fprintf(out, "Machine: %s\n\n", m)
		printTable(out, res.rows())
		fmt.Fprintln(out)
		printPlot(out, res.formation)
	}
	if svgPath != "" {
		if dir := filepath.Dir(svgPath); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(svgPath, plotFormation(res.formation, m), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(log, "bench: plot written to %s\n", svgPath)
	}
	if len(failed) > 0 {
		return fmt.Errorf("not measured (see the log above): %s", strings.Join(failed, ", "))
	}
	return nil
}

// The steps of a run, by name.
const (
	stepStart        = "start"
	stepFormation    = "formation"
	stepSequential   = "sequential formation"
	stepPeerEvents   = "peer events"
	stepIdleCPU      = "idle CPU"
	stepChurn        = "client churn"
	stepThroughput   = "throughput"
	stepRequestReply = "request/reply"
	stepMemory       = "idle memory"
	stepResume       = "resume"
	stepSecurity     = "security"
)

// results holds every measurement of one run.
type results struct {
	cfg        config
	failed     map[string]error // by step
	formation  []formationPoint
	joins      []time.Duration
	leaves     []time.Duration
	tput       map[int]tputResult // by payload size
	rtt        map[bool]rttResult // by in-process
	mem        map[mb.Kind][]mb.Memory
	resume     map[mb.Kind][]time.Duration
	secure     secureResult
	rttSamples int

	start                              map[mb.Kind][]time.Duration
	sequential                         []formationPoint
	cpuMesh, cpuRaw                    []float64
	churnHooks, churnRaw, churnBlocked mb.Churn
}

type formationPoint struct {
	nodes     int
	mesh, raw []time.Duration
	// floor is nats-server with natsmesh's route settings
	// (meshbench.RawOneRoute), timed at the largest node count only.
	floor []time.Duration
	// meshFails, rawFails and floorFails count formations that did not
	// complete within meshbench.Wait (a loaded machine, or nats-server's
	// gossiped routes, which it dials once, missing a pair for good).
	meshFails, rawFails, floorFails int
}

// add records one formation of kind: its duration, or err (logged and
// counted: one formation that does not complete does not end the step).
func (p *formationPoint) add(k mb.Kind, d time.Duration, err error, log io.Writer) {
	switch {
	case err != nil && k == mb.Mesh:
		p.meshFails++
	case err != nil && k == mb.RawOneRoute:
		p.floorFails++
	case err != nil:
		p.rawFails++
	case k == mb.Mesh:
		p.mesh = append(p.mesh, d)
	case k == mb.RawOneRoute:
		p.floor = append(p.floor, d)
	default:
		p.raw = append(p.raw, d)
	}
	if err != nil {
		fmt.Fprintf(log, "bench: %s formation of %d did not complete: %v\n", k, p.nodes, err)
	}
}

type tputResult struct {
	on, off, raw            float64 // msgs/s
	onRaw, offRaw, onOff    float64 // median per-round ratios
	rounds, batch, sizeByte int
}

type rttResult struct{ mesh, raw []time.Duration }

func measureFormation(r *results, log io.Writer) error {
	for _, n := range r.cfg.nodes {
		r.formation = append(r.formation, formationPoint{nodes: n})
	}
	largest := slices.Max(r.cfg.nodes) // the floor is timed there only
	for rep := range r.cfg.formReps {
		fmt.Fprintf(log, "bench: formation %d/%d\n", rep+1, r.cfg.formReps)
		for i, n := range r.cfg.nodes {
			kinds := []mb.Kind{mb.Mesh, mb.Raw}
			if n == largest {
				// The floor: natsmesh's own server's route work.
				kinds = append(kinds, mb.RawOneRoute)
			}
			for j := range kinds {
				k := kinds[(rep+i+j)%len(kinds)] // rotating which goes first
				d, err := mb.TimeFormation(k, n)
				r.formation[i].add(k, d, err, log)
			}
		}
	}
	return nil
}

func measurePeerEvents(r *results, _ io.Writer) error {
	m, err := mb.NewMembership()
	if err != nil {
		return err
	}
	defer m.Close()
	for range r.cfg.peerEvents {
		j, l, err := m.Cycle()
		if err != nil {
			return err
		}
		r.joins, r.leaves = append(r.joins, j), append(r.leaves, l)
	}
	return nil
}

// batch is how many messages of size bytes one throughput round sends.
func (cfg config) batch(size int) int {
	if size > 1024 {
		return cfg.tputLarge
	}
	return cfg.tputSmall
}

// runThroughput runs cfg.tputRounds rounds of a throughput comparison of
// kinds with messages of size bytes (cfg.batch(size) per round), saying
// so on log under what, and returns it
// closed, for its rates.
func runThroughput(cfg config, log io.Writer, what string, size int, kinds ...mb.Kind) (*mb.Throughput, error) {
	batch := cfg.batch(size)
	fmt.Fprintf(log, "bench: %s %d B, %d rounds of %d messages\n", what, size, cfg.tputRounds, batch)
	t, err := mb.NewThroughput(size, batch, kinds...)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	for i := range cfg.tputRounds {
		if err := t.Round(i); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func measureThroughput(r *results, log io.Writer) error {
	r.tput = map[int]tputResult{}
	for _, size := range []int{128, 16 << 10} {
		t, err := runThroughput(r.cfg, log, "throughput", size, mb.MeshHooks, mb.Mesh, mb.Raw)
		if err != nil {
			return err
		}
		r.tput[size] = tputResult{
			on: t.Rate(mb.MeshHooks), off: t.Rate(mb.Mesh), raw: t.Rate(mb.Raw),
			onRaw: t.Ratio(mb.MeshHooks, mb.Raw), offRaw: t.Ratio(mb.Mesh, mb.Raw), onOff: t.Ratio(mb.MeshHooks, mb.Mesh),
			rounds: r.cfg.tputRounds, batch: r.cfg.batch(size), sizeByte: size,
		}
	}
	return nil
}

func measureRequestReply(r *results, _ io.Writer) error {
	r.rtt = map[bool]rttResult{}
	for _, inProcess := range []bool{false, true} {
		rs, err := mb.NewRoundTrips(inProcess, 1, mb.Mesh, mb.Raw)
		if err != nil {
			return err
		}
		for i := range r.cfg.requests {
			if err := rs.Round(i); err != nil {
				rs.Close()
				return err
			}
		}
		rs.Close()
		r.rtt[inProcess] = rttResult{mesh: rs.Samples(mb.Mesh), raw: rs.Samples(mb.Raw)}
	}
	r.rttSamples = r.cfg.requests
	return nil
}

func measureMemory(r *results, _ io.Writer) error {
	r.mem = map[mb.Kind][]mb.Memory{}
	for rep := range r.cfg.memReps {
		kinds := []mb.Kind{mb.Mesh, mb.Raw}
		if rep%2 == 1 {
			kinds = []mb.Kind{mb.Raw, mb.Mesh}
		}
		for _, k := range kinds {
			m, err := mb.IdleMemory(k, r.cfg.memNodes, 200*time.Millisecond)
			if err != nil {
				return err
			}
			r.mem[k] = append(r.mem[k], m)
		}
	}
	return nil
}

func measureResume(r *results, _ io.Writer) error {
	r.resume = map[mb.Kind][]time.Duration{}
	for rep := range r.cfg.resumeReps {
		kinds := []mb.Kind{mb.Mesh, mb.Raw}
		if rep%2 == 1 {
			kinds = []mb.Kind{mb.Raw, mb.Mesh}
		}
		for _, k := range kinds {
			d, err := mb.Resume(k)
			if err != nil {
				return err
			}
			r.resume[k] = append(r.resume[k], d)
		}
	}
	return nil
}

// machineNote describes where the figures were measured.
func machineNote() string {
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			load = ", load average " + f[0] + " at start"
		}
	}
	return fmt.Sprintf("%s/%s, %s, %d cores (GOMAXPROCS %d), %s%s, %s",
		runtime.GOOS, runtime.GOARCH, cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), load, time.Now().UTC().Format("2006-01-02"))
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or "CPU model
// unknown".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}
