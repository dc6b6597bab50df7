package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// plotWidth is the longest bar of the text plot, in characters.
const plotWidth = 50

// printPlot draws the median formation time against the node count as
// text: for each node count a bar for natsmesh (#) and one for raw
// nats-server (=), scaled to the longest, with the figure and natsmesh's
// ratio to raw.
func printPlot(w io.Writer, points []formationPoint) {
	type bar struct {
		n         int
		mesh, raw time.Duration
		reps      int
	}
	var bars []bar
	var most time.Duration
	for _, p := range points {
		if len(p.mesh) == 0 || len(p.raw) == 0 {
			continue
		}
		b := bar{p.nodes, mb.Percentile(p.mesh, 50), mb.Percentile(p.raw, 50), len(p.mesh)}
		bars = append(bars, b)
		most = max(most, b.mesh, b.raw)
	}
	if len(bars) == 0 || most <= 0 {
		fmt.Fprintln(w, "Formation plot: no formation measured.")
		return
	}
	fmt.Fprintf(w, "Formation time against node count (concurrent start, median of %d; # natsmesh, = raw nats-server):\n\n", bars[0].reps)
	length := func(d time.Duration) int {
		return max(1, int(float64(d)/float64(most)*plotWidth+0.5))
	}
	for _, b := range bars {
		fmt.Fprintf(w, "%4d nodes |%-*s %s (%s raw)\n", b.n, plotWidth, strings.Repeat("#", length(b.mesh)), fmtDur(b.mesh), fmtRatio(float64(b.mesh)/float64(b.raw)))
		fmt.Fprintf(w, "%10s |%-*s %s\n", "", plotWidth, strings.Repeat("=", length(b.raw)), fmtDur(b.raw))
	}
	fmt.Fprintf(w, "%10s +%s\n%10s  0%*s\n", "", strings.Repeat("-", plotWidth), "", plotWidth, fmtDur(most))
}

// printMarkdown prints the results as the "Latest run" section of
// BENCHMARKS.md: the machine, the table between the markers the file
// uses, how long the run took, the text plot, and the SVG plot at svgPath
// unless it is "".
func printMarkdown(w io.Writer, r *results, machine string, took time.Duration, svgPath string) {
	fmt.Fprintln(w, "## Latest run")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "<!-- table: go run ./examples/bench -markdown -->")
	fmt.Fprintf(w, "Machine: %s\n\n", machine)
	printTable(w, r.rows())
	fmt.Fprintln(w, "<!-- /table -->")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Ratios are natsmesh ÷ raw nats-server, measured in the same run, taking turns. This run took %s.\n\n", took.Round(time.Second))
	fmt.Fprintln(w, "```text")
	printPlot(w, r.formation)
	fmt.Fprintln(w, "```")
	if svgPath != "" {
		fmt.Fprintf(w, "\n![Time from cold start to full mesh against the number of nodes, natsmesh and raw nats-server](%s)\n", filepath.ToSlash(svgPath))
	}
}
