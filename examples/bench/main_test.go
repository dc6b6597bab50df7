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
)

// tiny is the least that exercises every measurement: a smoke run of the
// program, not a benchmark (its figures mean nothing).
var tiny = config{
	nodes: []int{3, 4}, formReps: 1,
	tputRounds: 1, tputSmall: 200, tputLarge: 20,
	requests: 20, peerEvents: 10,
	memNodes: 3, memReps: 1, resumeReps: 1,
}

// TestRun runs the program on the tiny configuration and checks that it
// prints every row of the table and writes a well-formed SVG.
func TestRun(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "plots", "formation.svg")
	var out bytes.Buffer
	if err := run(tiny, &out, io.Discard, svg); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Machine: ", "| Figure ",
		"Cold start to full mesh, 3 nodes ",
		"Cold start to full mesh, 32 nodes ", // not run here, but a row
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
	if lines := strings.Count(text, "\n|"); lines != 24 { // header, separator, 22 figures
		t.Errorf("table has %d lines, want 24:\n%s", lines, text)
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
