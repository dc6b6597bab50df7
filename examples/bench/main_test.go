package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tiny is the least that exercises every measurement: a smoke run of the
// program, not a benchmark (its figures mean nothing).
var tiny = config{
	nodes: []int{3, 4}, formReps: 1,
	tputRounds: 1, tputSmall: 200, tputLarge: 20,
	requests: 20, peerEvents: 10,
	memNodes: 3, memReps: 1, resumeReps: 1,
	seqNodes: []int{3}, startReps: 3,
	cpuReps: 1, cpuWindow: 100 * time.Millisecond, churnFor: 100 * time.Millisecond,
}

// TestRun runs the program on the tiny configuration and checks that it
// prints every row of the table, with a target for each figure of issue
// 12, the text plot, and writes a well-formed SVG.
func TestRun(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "plots", "formation.svg")
	var out bytes.Buffer
	if err := run(tiny, &out, io.Discard, svg, false); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Machine: ", "| Figure ",
		"mesh.Start vs bare nats-server start, median of 3 ",
		"Formation, sequential start, 3 nodes, median of 1 ",
		"Formation, concurrent start, 3 nodes, median of 1 ",
		"Formation, sequential start, 32 nodes ", // not run here, but a row
		"Formation, concurrent start, 32 nodes ",
		"Idle CPU, 3 nodes, same route pings",
		"Client churn, 3 nodes, every hook on: connects+closes",
		"Client churn, 3 nodes, every hook on: CPU per connect+close",
		"Client churn, 3 nodes, every hook on: ClientConnected p50 / p99",
		"Client churn, 3 nodes, every hook on: peak heap growth",
		"Blocked ClientConnected hook: backlog growth",
		"Blocked ClientConnected hook: heap per queued event",
		"Blocked hook: most queued on a node",
		"Blocked hook: one warning per node past",
		"Formation time against node count", "   3 nodes |#", "   4 nodes |#",
		"PeerJoined after the route opened, p50 / p99 of 10",
		"PeerLeft after the peer's Shutdown",
		"Throughput across nodes, 128 B, every hook on",
		"Throughput across nodes, 16 KiB, hooks off",
		"Request/reply across nodes, TCP",
		"Request/reply across nodes, in process",
		"Idle node (3-node cluster), live heap",
		"Subscriber resumes after its node's Shutdown",
		"Cold start to full mesh, 3 nodes, Secret ",
		"Cold start to full mesh, 3 nodes, Secret vs plain natsmesh",
		"Cold start to full mesh, 3 nodes, Secret vs raw route TLS",
		"Throughput across nodes, 128 B, Secret vs raw route TLS",
		"Throughput across nodes, 16 KiB, Secret vs plain natsmesh",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if lines := strings.Count(text, "\n|"); lines != 38 { // header, separator, 36 figures
		t.Errorf("table has %d lines, want 38:\n%s", lines, text)
	}
	for _, target := range []string{"≤ 1.3×", "≤ 0.15×", "≤ 0.5×", "p99 ≤ 5 ms", "≤ 1.2×", "once"} {
		if !strings.Contains(text, target) {
			t.Errorf("output lacks the target %q:\n%s", target, text)
		}
	}

	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	circles := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			circles++
		}
	}
	if circles != 4 { // 2 node counts × 2 series
		t.Errorf("SVG has %d points, want 4", circles)
	}
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ v, top, step float64 }{
		{224, 250, 50}, {52, 60, 20}, {9, 10, 2}, {1, 1, 0.2}, {0, 1, 0.25},
	} {
		if top, step := niceScale(c.v); top != c.top || step != c.step {
			t.Errorf("niceScale(%g) = %g, %g; want %g, %g", c.v, top, step, c.top, c.step)
		}
	}
}

func TestParseNodes(t *testing.T) {
	ns, err := parseNodes("3, 6,9")
	if err != nil || len(ns) != 3 || ns[2] != 9 {
		t.Errorf("parseNodes = %v, %v", ns, err)
	}
	for _, bad := range []string{"", "1", "x", "3,,9", "1000"} {
		if _, err := parseNodes(bad); err == nil {
			t.Errorf("parseNodes(%q) accepted", bad)
		}
	}
}

// TestMarkdown: with -markdown the output is a BENCHMARKS.md section, the
// table between its markers and the plot in a code block. It prints
// results measured elsewhere: nothing is run.
func TestMarkdown(t *testing.T) {
	r := &results{cfg: tiny, formation: []formationPoint{
		{nodes: 3, mesh: []time.Duration{3 * time.Millisecond}, raw: []time.Duration{50 * time.Millisecond}},
		{nodes: 32, mesh: []time.Duration{180 * time.Millisecond}, raw: []time.Duration{200 * time.Millisecond}},
	}}
	var out bytes.Buffer
	printMarkdown(&out, r, "test machine", 42*time.Second, "docs/formation.svg")
	text := out.String()
	for _, want := range []string{
		"## Latest run\n", "<!-- table: go run ./examples/bench -markdown -->\nMachine: test machine\n",
		"| Formation, concurrent start, 32 nodes, median of 1 ", "<!-- /table -->", "took 42s",
		"```text\nFormation time against node count", "  32 nodes |" + strings.Repeat("#", 45) + " ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasSuffix(text, "```\n\n![Time from cold start to full mesh against the number of nodes, natsmesh and raw nats-server](docs/formation.svg)\n") {
		t.Errorf("output does not end with the plot's code block and the SVG:\n%s", text)
	}
}

// TestFailedStep: a step that failed has one row saying so in place of
// its figures, and the others are still printed.
func TestFailedStep(t *testing.T) {
	r := &results{cfg: tiny, failed: map[string]error{
		stepSequential: errors.New("did not form"),
		stepChurn:      errors.New("refused"),
	}}
	var out bytes.Buffer
	printTable(&out, r.rows())
	text := out.String()
	for _, want := range []string{
		"| sequential formation: not measured ", "| client churn: not measured ",
		"| mesh.Start vs bare nats-server start", "| Idle CPU, 3 nodes",
		"| Formation, concurrent start, 3 nodes",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	for _, gone := range []string{"Formation, sequential start", "Client churn, 3 nodes"} {
		if strings.Contains(text, gone) {
			t.Errorf("table has %q, from a failed step:\n%s", gone, text)
		}
	}
}

// TestFormationFailures: formations that did not complete are counted in
// the figure's row, and a side with none formed says so.
func TestFormationFailures(t *testing.T) {
	ms := []time.Duration{time.Millisecond}
	r := &results{cfg: tiny, failed: map[string]error{}, sequential: []formationPoint{
		{nodes: 3, mesh: ms, raw: []time.Duration{50 * time.Millisecond}, meshFails: 1},
		{nodes: 32, mesh: ms, rawFails: 2},
	}}
	var out bytes.Buffer
	printTable(&out, r.formationRows(true))
	text := out.String()
	for _, want := range []string{
		"| Formation, sequential start, 3 nodes (did not form within 30s: natsmesh 1, raw 0), median of 1 |",
		"| Formation, sequential start, 32 nodes (did not form within 30s: natsmesh 0, raw 2) ",
		" did not form |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, " yes |") {
		t.Errorf("a target is met despite a natsmesh formation that did not complete:\n%s", text)
	}
}

// TestFloorRow: the largest concurrent formation has a second row, natsmesh
// against nats-server with natsmesh's own route settings (the floor), with
// the floor's own ratio to the documented idiom.
func TestFloorRow(t *testing.T) {
	d := func(ms int) []time.Duration { return []time.Duration{time.Duration(ms) * time.Millisecond} }
	r := &results{cfg: tiny, failed: map[string]error{}, formation: []formationPoint{
		{nodes: 3, mesh: d(8), raw: d(50)},
		{nodes: 32, mesh: d(600), raw: d(600), floor: d(400)},
	}}
	var out bytes.Buffer
	printTable(&out, r.formationRows(false))
	text := out.String()
	want := "| Formation, concurrent start, 32 nodes, vs nats-server with natsmesh's routes (one per peer), median of 1 | 600 ms | 400 ms (0.67× raw) | 1.50× |"
	if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
		t.Errorf("table lacks %q:\n%s", want, text)
	}
	if strings.Count(text, "vs nats-server with natsmesh's routes") != 1 {
		t.Errorf("want the floor row once, at 32 nodes:\n%s", text)
	}
}
