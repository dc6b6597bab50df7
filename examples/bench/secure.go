package main

import (
	"fmt"
	"io"
	"time"

	mb "github.com/natsmesh/natsmesh/internal/meshbench"
)

// The kinds the security figures compare, natsmesh with a Secret first,
// then its baselines: as BenchmarkFormationSecret and
// BenchmarkThroughputSecret.
var (
	secureFormKinds = []mb.Kind{mb.MeshSecret, mb.Mesh, mb.Raw, mb.RawTLS}
	secureTputKinds = []mb.Kind{mb.MeshSecret, mb.RawTLS, mb.Mesh}
)

// secureResult holds the security figures: 3-node formation times by kind
// and throughput by payload size.
type secureResult struct {
	form map[mb.Kind][]time.Duration
	tput map[int]secureTput
}

type secureTput struct {
	secret, rawTLS, plain     float64 // msgs/s
	secretRawTLS, secretPlain float64 // median per-round ratios
	rounds, batch, sizeByte   int
}

// measureSecurity measures what sealing routes with a Secret costs: 3-node
// formation (as BenchmarkFormationSecret) and cross-node throughput (as
// BenchmarkThroughputSecret), with the same repetitions as the plain
// figures.
func measureSecurity(r *results, log io.Writer) error {
	r.secure = secureResult{form: map[mb.Kind][]time.Duration{}, tput: map[int]secureTput{}}
	for rep := range r.cfg.formReps {
		fmt.Fprintf(log, "bench: formation with a secret %d/%d\n", rep+1, r.cfg.formReps)
		ds, err := mb.FormationRound(rep, 3, secureFormKinds...)
		if err != nil {
			return err
		}
		for i, k := range secureFormKinds {
			r.secure.form[k] = append(r.secure.form[k], ds[i])
		}
	}
	for _, size := range []int{128, 16 << 10} {
		t, err := runThroughput(r.cfg, log, "throughput with a secret", size, secureTputKinds...)
		if err != nil {
			return err
		}
		r.secure.tput[size] = secureTput{
			secret: t.Rate(mb.MeshSecret), rawTLS: t.Rate(mb.RawTLS), plain: t.Rate(mb.Mesh),
			secretRawTLS: t.Ratio(mb.MeshSecret, mb.RawTLS), secretPlain: t.Ratio(mb.MeshSecret, mb.Mesh),
			rounds: r.cfg.tputRounds, batch: r.cfg.batch(size), sizeByte: size,
		}
	}
	return nil
}

// secureRows are the table's rows for the security figures. The baseline
// column says which baseline when it is not plaintext raw nats-server.
func (r *results) secureRows() []row {
	f := r.secure.form
	secret := mb.Percentile(f[mb.MeshSecret], 50)
	ratio := func(base time.Duration) float64 { return float64(secret) / float64(base) }
	raw, plain, rawTLS := mb.Percentile(f[mb.Raw], 50), mb.Percentile(f[mb.Mesh], 50), mb.Percentile(f[mb.RawTLS], 50)
	const form = "Cold start to full mesh, 3 nodes, Secret"
	rows := []row{
		{form, fmtDur(secret), fmtDur(raw), fmtRatio(ratio(raw)), "≤ 0.3×", yesNo(ratio(raw) <= 0.3)},
		{form + " vs plain natsmesh", fmtDur(secret), fmtDur(plain) + " (plain natsmesh)", fmtRatio(ratio(plain)), "—", "—"},
		{form + " vs raw route TLS", fmtDur(secret), fmtDur(rawTLS) + " (route TLS)", fmtRatio(ratio(rawTLS)), "—", "—"},
	}
	for _, size := range []int{128, 16 << 10} {
		t := r.secure.tput[size]
		name := fmt.Sprintf("Throughput across nodes, %s, Secret", fmtSize(size))
		rows = append(rows,
			row{name + " vs raw route TLS", fmtRate(t.secret), fmtRate(t.rawTLS) + " (route TLS)", fmtRatio(t.secretRawTLS), "≥ 0.95×", yesNo(t.secretRawTLS >= 0.95)},
			row{name + " vs plain natsmesh", fmtRate(t.secret), fmtRate(t.plain) + " (plain natsmesh)", fmtRatio(t.secretPlain), "—", "—"})
	}
	return rows
}
