package meshbench

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// waitInterest polls until srv knows a subscriber of subject in the global
// account (its own client's or a peer's), or Wait passes.
func waitInterest(srv *server.Server, subject string) error {
	deadline := time.Now().Add(Wait)
	for srv.GlobalAccount().Interest(subject) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("meshbench: %s: no subscriber of %q known within %s", srv.Name(), subject, Wait)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// Path is a publisher on node 0 and a subscriber on node 1 of a cluster,
// both nats.go clients over TCP: every message crosses one route.
type Path struct {
	Cluster  *Cluster
	pub, sub *nats.Conn
	got      atomic.Int64
	want     atomic.Int64
	done     chan struct{}
}

const pathSubject = "bench.cross"

// NewPath connects the publisher and the subscriber and returns once the
// subscription is known on the publisher's node. The cluster needs at
// least 2 nodes; Close closes the clients, not the cluster.
func NewPath(c *Cluster) (*Path, error) {
	if len(c.Servers) < 2 {
		return nil, errors.New("meshbench: a path needs 2 nodes")
	}
	p := &Path{Cluster: c, done: make(chan struct{}, 1)}
	var err error
	if p.sub, err = nats.Connect(c.ClientURL(1), nats.Name("bench-sub")); err != nil {
		return nil, fmt.Errorf("meshbench: subscriber: %w", err)
	}
	s, err := p.sub.Subscribe(pathSubject, func(*nats.Msg) {
		if p.got.Add(1) == p.want.Load() {
			p.done <- struct{}{}
		}
	})
	if err == nil {
		err = s.SetPendingLimits(-1, -1)
	}
	if err == nil {
		err = p.sub.Flush()
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("meshbench: subscribe: %w", err)
	}
	if p.pub, err = nats.Connect(c.ClientURL(0), nats.Name("bench-pub")); err != nil {
		p.Close()
		return nil, fmt.Errorf("meshbench: publisher: %w", err)
	}
	if err := waitInterest(c.Servers[0], pathSubject); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Run publishes n messages with the given payload as fast as the publisher
// can and returns how long until the subscriber had them all.
func (p *Path) Run(n int, payload []byte) (time.Duration, error) {
	if n < 1 {
		return 0, nil
	}
	p.got.Store(0)
	p.want.Store(int64(n))
	select { // a stale signal from an earlier run that timed out
	case <-p.done:
	default:
	}
	start := time.Now()
	for range n {
		if err := p.pub.Publish(pathSubject, payload); err != nil {
			return 0, fmt.Errorf("meshbench: publish: %w", err)
		}
	}
	if err := p.pub.FlushTimeout(Wait); err != nil {
		return 0, fmt.Errorf("meshbench: flush: %w", err)
	}
	select {
	case <-p.done:
		return time.Since(start), nil
	case <-time.After(Wait):
		return 0, fmt.Errorf("meshbench: %d of %d messages arrived within %s", p.got.Load(), n, Wait)
	}
}

// Close closes the publisher and the subscriber.
func (p *Path) Close() {
	if p.pub != nil {
		p.pub.Close()
	}
	if p.sub != nil {
		p.sub.Close()
	}
}

// Throughput compares cross-node publish/subscribe throughput of several
// kinds of 2-node clusters, side by side: each Round sends one batch on
// every kind's Path, rotating which goes first, so that none is favoured
// by a warm (or penalised by a busy) machine.
type Throughput struct {
	Kinds []Kind
	Size  int // payload bytes
	Batch int // messages per batch

	paths   []*Path
	payload []byte
	durs    []time.Duration   // per kind, all rounds
	msgs    []int             // per kind, all rounds
	rounds  [][]time.Duration // per round, per kind
}

// NewThroughput forms a 2-node cluster and a Path for each kind, and warms
// every path up with one batch (not counted).
func NewThroughput(size, batch int, kinds ...Kind) (*Throughput, error) {
	t := &Throughput{Kinds: kinds, Size: size, Batch: batch, payload: make([]byte, size),
		durs: make([]time.Duration, len(kinds)), msgs: make([]int, len(kinds))}
	for _, k := range kinds {
		c, err := Start(k, 2)
		if err != nil {
			t.Close()
			return nil, err
		}
		p, err := NewPath(c)
		if err != nil {
			c.Close()
			t.Close()
			return nil, err
		}
		t.paths = append(t.paths, p)
	}
	for _, p := range t.paths {
		if _, err := p.Run(batch, t.payload); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// Round runs one batch on every path, starting with path i mod len(Kinds).
func (t *Throughput) Round(i int) error {
	n := len(t.paths)
	round := make([]time.Duration, n)
	for j := range n {
		k := (i + j) % n
		d, err := t.paths[k].Run(t.Batch, t.payload)
		if err != nil {
			return fmt.Errorf("%s: %w", t.Kinds[k], err)
		}
		round[k] = d
	}
	for k, d := range round {
		t.durs[k] += d
		t.msgs[k] += t.Batch
	}
	t.rounds = append(t.rounds, round)
	return nil
}

// Ratio returns the median over rounds of a's throughput divided by b's
// in the same round, or 0 if either is not measured. Pairing the two
// within a round cancels what the machine does slowly (load, frequency);
// the median drops rounds a garbage collection or a scheduling hiccup hit.
func (t *Throughput) Ratio(a, b Kind) float64 {
	ia, ib := slices.Index(t.Kinds, a), slices.Index(t.Kinds, b)
	if ia < 0 || ib < 0 || len(t.rounds) == 0 {
		return 0
	}
	rs := make([]float64, len(t.rounds))
	for i, r := range t.rounds {
		rs[i] = r[ib].Seconds() / r[ia].Seconds()
	}
	return Median(rs)
}

// Rate returns kind's messages per second over all rounds so far (total
// messages over total time), or 0 if kind is not measured.
func (t *Throughput) Rate(kind Kind) float64 {
	for i, k := range t.Kinds {
		if k == kind && t.durs[i] > 0 {
			return float64(t.msgs[i]) / t.durs[i].Seconds()
		}
	}
	return 0
}

// Close closes every path and its cluster.
func (t *Throughput) Close() {
	for _, p := range t.paths {
		p.Close()
		p.Cluster.Close()
	}
	t.paths = nil
}

// RoundTrip is a requester on node 0 and a responder on node 1 of a
// cluster: every request and every reply crosses one route. The clients
// connect over TCP (nats.Connect to the client URL) or in process: the
// mesh's Node.Connect, or nats.InProcessServer for a raw server.
type RoundTrip struct {
	Cluster   *Cluster
	InProcess bool
	req, resp *nats.Conn
}

const rttSubject = "bench.rtt"

// NewRoundTrip connects the requester and the responder and makes one
// request (not counted), so that the requester's reply subscription is
// known on the responder's node.
func NewRoundTrip(c *Cluster, inProcess bool) (*RoundTrip, error) {
	if len(c.Servers) < 2 {
		return nil, errors.New("meshbench: a round trip needs 2 nodes")
	}
	r := &RoundTrip{Cluster: c, InProcess: inProcess}
	var err error
	if r.resp, err = c.connect(1, inProcess, nats.Name("bench-responder")); err != nil {
		return nil, err
	}
	reply := []byte("pong")
	_, err = r.resp.Subscribe(rttSubject, func(m *nats.Msg) { _ = m.Respond(reply) })
	if err == nil {
		err = r.resp.Flush()
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("meshbench: responder: %w", err)
	}
	if r.req, err = c.connect(0, inProcess, nats.Name("bench-requester")); err != nil {
		r.Close()
		return nil, err
	}
	if err := waitInterest(c.Servers[0], rttSubject); err != nil {
		r.Close()
		return nil, err
	}
	if _, err := r.req.Request(rttSubject, []byte("ping"), Wait); err != nil {
		r.Close()
		return nil, fmt.Errorf("meshbench: first request: %w", err)
	}
	return r, nil
}

// connect dials node i over TCP or in process.
func (c *Cluster) connect(i int, inProcess bool, opts ...nats.Option) (*nats.Conn, error) {
	var nc *nats.Conn
	var err error
	switch {
	case !inProcess:
		nc, err = nats.Connect(c.ClientURL(i), opts...)
	case c.Nodes != nil:
		nc, err = c.Nodes[i].Connect(opts...)
	default:
		nc, err = nats.Connect("", append([]nats.Option{nats.InProcessServer(c.Servers[i])}, opts...)...)
	}
	if err != nil {
		return nil, fmt.Errorf("meshbench: connect to node %d (in process: %t): %w", i, inProcess, err)
	}
	return nc, nil
}

// Run makes n requests one after the other and appends each round trip's
// duration to into.
func (r *RoundTrip) Run(n int, into []time.Duration) ([]time.Duration, error) {
	payload := []byte("ping")
	for range n {
		start := time.Now()
		if _, err := r.req.Request(rttSubject, payload, Wait); err != nil {
			return into, fmt.Errorf("meshbench: request: %w", err)
		}
		into = append(into, time.Since(start))
	}
	return into, nil
}

// Close closes the requester and the responder, not the cluster.
func (r *RoundTrip) Close() {
	if r.req != nil {
		r.req.Close()
	}
	if r.resp != nil {
		r.resp.Close()
	}
}

// RoundTrips compares request/reply round trips of several kinds of
// 2-node clusters side by side, as Throughput does for throughput.
type RoundTrips struct {
	Kinds []Kind
	Batch int // requests per kind per round

	rts     []*RoundTrip
	samples [][]time.Duration
}

// NewRoundTrips forms a 2-node cluster and a RoundTrip for each kind.
func NewRoundTrips(inProcess bool, batch int, kinds ...Kind) (*RoundTrips, error) {
	rs := &RoundTrips{Kinds: kinds, Batch: batch, samples: make([][]time.Duration, len(kinds))}
	for _, k := range kinds {
		c, err := Start(k, 2)
		if err != nil {
			rs.Close()
			return nil, err
		}
		r, err := NewRoundTrip(c, inProcess)
		if err != nil {
			c.Close()
			rs.Close()
			return nil, err
		}
		rs.rts = append(rs.rts, r)
	}
	return rs, nil
}

// Round makes Batch requests on every kind's cluster, starting with kind i
// mod len(Kinds).
func (rs *RoundTrips) Round(i int) error {
	n := len(rs.rts)
	for j := range n {
		k := (i + j) % n
		var err error
		if rs.samples[k], err = rs.rts[k].Run(rs.Batch, rs.samples[k]); err != nil {
			return fmt.Errorf("%s: %w", rs.Kinds[k], err)
		}
	}
	return nil
}

// Samples returns every round trip measured so far on kind's cluster.
func (rs *RoundTrips) Samples(kind Kind) []time.Duration {
	for i, k := range rs.Kinds {
		if k == kind {
			return rs.samples[i]
		}
	}
	return nil
}

// Close closes every round trip and its cluster.
func (rs *RoundTrips) Close() {
	for _, r := range rs.rts {
		r.Close()
		r.Cluster.Close()
	}
	rs.rts = nil
}
