package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strings"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// Plot geometry, in SVG user units.
const (
	plotW, plotH                    = 600, 340
	marginL, marginR, marginT, marB = 64, 24, 52, 70
)

// plotFormation draws the median time to a full mesh against the node
// count, natsmesh and raw nats-server, as a small self-contained SVG with
// the machine note under it. Each natsmesh point is labelled with its
// ratio to raw; a translucent bar spans the middle half of the runs.
func plotFormation(points []formationPoint, machine string) []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	reps := 0
	maxN, maxMs := 1, 0.0
	// For each series: the median and, as a bar, the middle half of the
	// runs (25th to 75th percentile).
	type xy struct{ n, mesh, raw, meshLo, meshHi, rawLo, rawHi float64 }
	var pts []xy
	for _, fp := range points {
		if len(fp.mesh) == 0 || len(fp.raw) == 0 {
			continue
		}
		q := func(ds []time.Duration, p float64) float64 { return mb.Ms(mb.Percentile(ds, p)) }
		pt := xy{float64(fp.nodes), q(fp.mesh, 50), q(fp.raw, 50), q(fp.mesh, 25), q(fp.mesh, 75), q(fp.raw, 25), q(fp.raw, 75)}
		pts = append(pts, pt)
		maxN = max(maxN, fp.nodes)
		maxMs = max(maxMs, pt.mesh, pt.raw, pt.meshHi, pt.rawHi)
		reps = len(fp.mesh)
	}
	yMax, yStep := niceScale(maxMs)
	x := func(n float64) float64 { return marginL + n/float64(maxN)*(plotW-marginL-marginR) }
	y := func(ms float64) float64 { return plotH - marB - ms/yMax*(plotH-marginT-marB) }

	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, plotW, plotH, plotW, plotH)
	p(`<title>Time from cold start to full mesh: natsmesh and raw nats-server</title>`)
	p(`<rect width="%d" height="%d" fill="#fff"/>`, plotW, plotH)
	p(`<text x="%d" y="20" text-anchor="middle" font-size="15">Cold start to full mesh</text>`, plotW/2)
	p(`<text x="%d" y="36" text-anchor="middle" font-size="11" fill="#555">median of %d runs per point; bars span the 25th to 75th percentile</text>`, plotW/2, reps)
	// Grid and y labels.
	for v := 0.0; v <= yMax+yStep/2; v += yStep {
		p(`<path d="M%d %.1fH%d" stroke="#e5e5e5"/>`, marginL, y(v), plotW-marginR)
		p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`, marginL-6, y(v)+4, trimFloat(v))
	}
	p(`<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">milliseconds</text>`, (plotH-marB+marginT)/2)
	// Axes and x labels.
	p(`<path d="M%d %dV%dH%d" stroke="#333" fill="none"/>`, marginL, marginT, plotH-marB, plotW-marginR)
	for _, q := range pts {
		p(`<path d="M%.1f %dv5" stroke="#333"/><text x="%.1f" y="%d" text-anchor="middle">%g</text>`, x(q.n), plotH-marB, x(q.n), plotH-marB+18, q.n)
	}
	p(`<text x="%d" y="%d" text-anchor="middle">nodes</text>`, (marginL+plotW-marginR)/2, plotH-marB+34)
	// Series.
	series := func(color, dash string, dx float64, val, lo, hi func(xy) float64) {
		var d []string
		for _, q := range pts {
			d = append(d, fmt.Sprintf("%.1f,%.1f", x(q.n), y(val(q))))
		}
		p(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(d, " "), color, dash)
		for _, q := range pts {
			p(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, x(q.n), y(val(q)), color)
			if y(lo(q))-y(hi(q)) >= 1 {
				p(`<path d="M%.1f %.1fV%.1f" stroke="%s" stroke-width="4" stroke-opacity="0.4"/>`, x(q.n)+dx, y(lo(q)), y(hi(q)), color)
			}
		}
	}
	const meshColor, rawColor = "#1f6fb4", "#d9641e"
	series(rawColor, ` stroke-dasharray="6 4"`, 3,
		func(q xy) float64 { return q.raw }, func(q xy) float64 { return q.rawLo }, func(q xy) float64 { return q.rawHi })
	series(meshColor, "", -3,
		func(q xy) float64 { return q.mesh }, func(q xy) float64 { return q.meshLo }, func(q xy) float64 { return q.meshHi })
	for _, q := range pts {
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="%s" stroke="#fff" stroke-width="3" paint-order="stroke">%.2f×</text>`, x(q.n), y(q.mesh)-9, meshColor, q.mesh/q.raw)
	}
	// Legend.
	lx, ly := marginL+14, marginT+6
	p(`<path d="M%d %dh24" stroke="%s" stroke-width="2"/><text x="%d" y="%d">natsmesh (ratio to raw above each point)</text>`, lx, ly, meshColor, lx+30, ly+4)
	p(`<path d="M%d %dh24" stroke="%s" stroke-width="2" stroke-dasharray="6 4"/><text x="%d" y="%d">raw nats-server, embedded by hand</text>`, lx, ly+18, rawColor, lx+30, ly+22)
	// Machine note.
	var note bytes.Buffer
	_ = xml.EscapeText(&note, []byte(machine))
	p(`<text x="%d" y="%d" font-size="10" fill="#555">%s</text>`, marginL, plotH-10, note.String())
	p(`</svg>`)
	return b.Bytes()
}

// niceScale returns an axis maximum at or above v and a step that divides
// it into 4 to 8 parts, both 1, 2 or 5 times a power of ten.
func niceScale(v float64) (top, step float64) {
	if v <= 0 {
		return 1, 0.25
	}
	raw := v / 5
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * pow
		if step >= raw {
			break
		}
	}
	return math.Ceil(v/step) * step, step
}

// trimFloat prints v without a trailing ".0".
func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}
