package natsmesh_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// Failure behaviour: how fast a silent peer is reported lost, that a busy
// peer is not, what a graceful Leave costs the leaving node's clients, and
// how a restarted node rejoins. Speed is reported (t.Log and benchmarks),
// never asserted: the machine is shared and timings are noisy. The bounds
// below only keep a broken build from hanging.

// detectBound bounds the wait for a silent peer to be reported lost. With
// the defaults it takes 2 to 3 s; the bound is generous for -race on a
// loaded machine.
const detectBound = 30 * time.Second

// startBehindProxy starts a node that advertises a fault-injecting proxy
// as its route address: every peer that dials this node's routes (every
// peer that learns it by gossip, or seeds from ClusterURL) goes through
// the proxy. The proxy is closed by tb.Cleanup, after the node.
func startBehindProxy(tb testing.TB, o options.Options) (*mesh.Node, *recorder, *meshtest.Proxy) {
	tb.Helper()
	p := meshtest.NewProxy(tb, "") // refuses connections until the node is up
	o.ClusterAdvertise = p.Addr()
	n, h := startNode(tb, o)
	p.SetTarget(n.Server().ClusterAddr().String())
	return n, h, p
}

// routesTo returns the route connections node has to peer id, as
// "ip:port" of the remote end.
func routesTo(tb testing.TB, node *mesh.Node, id string) []string {
	tb.Helper()
	rz, err := node.Server().Routez(nil)
	if err != nil {
		tb.Fatalf("routez: %v", err)
	}
	var out []string
	for _, r := range rz.Routes {
		if r.RemoteID == id {
			out = append(out, net.JoinHostPort(r.IP, strconv.Itoa(r.Port)))
		}
	}
	return out
}

func nodePorts(n *mesh.Node) (client, cluster int) {
	return n.Server().Addr().(*net.TCPAddr).Port, n.Server().ClusterAddr().Port
}

// iterTB lets a benchmark iteration end what it started: it passes
// everything to the benchmark's TB and also keeps the cleanups, which end
// runs (the benchmark's own Cleanup runs them again later; every cleanup
// used here is idempotent).
type iterTB struct {
	testing.TB
	fns []func()
}

func (i *iterTB) Cleanup(f func()) {
	i.fns = append(i.fns, f)
	i.TB.Cleanup(f)
}

func (i *iterTB) end() {
	for j := len(i.fns) - 1; j >= 0; j-- {
		i.fns[j]()
	}
	i.fns = nil
}

func boundCtx(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// proxyPair is the two proxies in front of a and b: faults are injected
// in both, so the pair is cut off whichever way a route is dialled.
type proxyPair struct{ a, b *meshtest.Proxy }

// Blackhole makes every route between a and b silent.
func (p proxyPair) Blackhole() { p.a.Blackhole(); p.b.Blackhole() }

// Pass lets traffic through again.
func (p proxyPair) Pass() { p.a.Pass(); p.b.Pass() }

// silentPair starts b and a, each behind a proxy it advertises, a seeded
// from b's proxy, so every route between them crosses a proxy whichever
// side dials it (a route redialled after a fault included), and checks
// that they do.
func silentPair(tb testing.TB, o options.Options) (a, b *mesh.Node, ha, hb *recorder, p proxyPair) {
	tb.Helper()
	ob := o
	ob.Name = "b"
	b, hb, p.b = startBehindProxy(tb, ob)
	oa := o
	oa.Name, oa.Seed = "a", b.ClusterURL()
	a, ha, p.a = startBehindProxy(tb, oa)
	for _, n := range []*mesh.Node{a, b} {
		if err := n.WaitForPeers(boundCtx(tb, waitTimeout), 1); err != nil {
			tb.Fatal(err)
		}
	}
	// Every route between a and b crosses a proxy: the proxies carry as
	// many connections as a has routes to b, and bytes went through.
	fromA, fromB := routesTo(tb, a, b.ID()), routesTo(tb, b, a.ID())
	conns := p.a.Conns() + p.b.Conns()
	if len(fromA) == 0 || len(fromA) != len(fromB) || len(fromA) != conns || p.a.Forwarded()+p.b.Forwarded() == 0 {
		tb.Fatalf("routes do not all cross the proxies: a->b %v, b->a %v, proxies carry %d connections",
			fromA, fromB, conns)
	}
	return a, b, ha, hb, p
}

// randomPingPhase waits until every route of node is past its first ping
// (nats-server sends it 1 to 1.2 PingIntervals after the route opens), then
// for a random part of a ping interval, so that a fault injected next
// starts at a random phase of the ping cycle, as a real one would. Without
// it, a fault injected right after the mesh formed would always meet the
// slowest case.
func randomPingPhase(tb testing.TB, node *mesh.Node) {
	tb.Helper()
	first := options.DefaultPingInterval * 12 / 10
	pollUntil(tb, waitTimeout, "routes past their first ping", func() bool {
		rz, err := node.Server().Routez(nil)
		if err != nil {
			tb.Fatalf("routez: %v", err)
		}
		for _, r := range rz.Routes {
			if time.Since(r.Start) < first {
				return false
			}
		}
		return true
	})
	phase := time.NewTimer(rand.N(options.DefaultPingInterval))
	defer phase.Stop()
	<-phase.C
}

// TestSilentPeerDetection: a peer that goes silent without closing its
// sockets (the proxy between the two nodes blackholes) is reported Lost,
// by both sides, with the default ping settings. The detection time is
// logged; BenchmarkSilentPeerDetection reports it.
func TestSilentPeerDetection(t *testing.T) {
	a, b, ha, hb, p := silentPair(t, options.Options{})
	randomPingPhase(t, a)
	p.Blackhole()
	start := time.Now()
	lostB := ha.await(t, detectBound, "a to report b lost", isEvent("b", false, mesh.Lost))
	lostA := hb.await(t, detectBound, "b to report a lost", isEvent("a", false, mesh.Lost))
	t.Logf("silent peer reported lost after %s on a, %s on b (defaults: PingInterval %s, MaxPingsOut %d)",
		lostB.at.Sub(start).Round(time.Millisecond), lostA.at.Sub(start).Round(time.Millisecond),
		options.DefaultPingInterval, options.DefaultMaxPingsOut)
	assert.Empty(t, a.Peers())
	assert.Empty(t, b.Peers())
	for name, h := range map[string]*recorder{"a": ha, "b": hb} {
		assert.Empty(t, h.problems(), "history of %s: %v", name, h)
		assert.Len(t, h.all(), 2, "history of %s: %v", name, h)
	}

	// Healing closes the connections that lost bytes; a's explicit route
	// to its seed comes back and both sides report the join, once.
	p.Pass()
	ha.await(t, waitTimeout, "a to see b again", func(e hookEvent) bool { return e.joined && e.at.After(lostB.at) })
	hb.await(t, waitTimeout, "b to see a again", func(e hookEvent) bool { return e.joined && e.at.After(lostA.at) })
	for name, h := range map[string]*recorder{"a": ha, "b": hb} {
		assert.Empty(t, h.problems(), "history of %s: %v", name, h)
	}
}

// BenchmarkSilentPeerDetection measures, with the default ping settings,
// the time from the moment the proxy between two nodes starts to blackhole
// to the moment a reports b Lost (its PeerLeft hook runs). Each iteration
// starts a fresh pair and blackholes it at a random phase of the route
// ping cycle; only the wait for the hook is timed. Metrics: detection-ms
// (mean) and max-detection-ms. Expect 2 to 3 s (MaxPingsOut to
// MaxPingsOut+1 ping intervals); one iteration takes about 5 s: run it
// with -benchtime 10x.
func BenchmarkSilentPeerDetection(b *testing.B) {
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		it := &iterTB{TB: b}
		a, _, ha, _, p := silentPair(it, options.Options{})
		randomPingPhase(b, a)
		b.StartTimer()
		p.Blackhole()
		start := time.Now()
		e := ha.await(b, detectBound, "a to report b lost", isEvent("b", false, mesh.Lost))
		d := e.at.Sub(start)
		b.StopTimer()
		total += d
		worst = max(worst, d)
		it.end()
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/float64(time.Millisecond)/float64(b.N), "detection-ms")
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "max-detection-ms")
}

// TestNoFalseLostUnderLoad: with the default ping settings, healthy nodes
// whose routes are saturated by publishers for several seconds do not
// report each other lost (or left): a route's PONG queues behind the
// messages, and must still arrive in time.
func TestNoFalseLostUnderLoad(t *testing.T) {
	const (
		duration   = 5 * time.Second
		publishers = 2 // per publishing node
		payload    = 4 << 10
	)
	// nats-server warns when it stalls a producer because a route (or
	// the subscriber) cannot take more: evidence the load saturates.
	var serverLog syncBuffer
	logger := slog.New(slog.NewTextHandler(&serverLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var nodes []*mesh.Node
	var logs []*recorder
	for i := range 3 {
		o := options.Options{Name: meshtest.Name(i), Logger: logger}
		if i > 0 {
			o.Seed = nodes[0].ClusterURL()
		}
		n, h := startNode(t, o)
		nodes, logs = append(nodes, n), append(logs, h)
	}
	for _, n := range nodes {
		require.NoError(t, n.WaitForPeers(ctxFor(t), 2))
	}

	// The subscriber on c drains everything a and b publish.
	var slow atomic.Int64 // slow-consumer reports: the subscriber's client dropped messages
	sub, err := nats.Connect(nodes[2].ClientURL(),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) { slow.Add(1) }))
	require.NoError(t, err)
	defer sub.Close()
	var received atomic.Int64
	s, err := sub.Subscribe("load.>", func(*nats.Msg) { received.Add(1) })
	require.NoError(t, err)
	require.NoError(t, s.SetPendingLimits(1<<20, 1<<30))
	require.NoError(t, sub.Flush())
	for _, n := range nodes[:2] {
		require.NoError(t, n.WaitForInterest(ctxFor(t), "load.x"))
	}

	stop := make(chan struct{})
	var published atomic.Int64
	var wg sync.WaitGroup
	data := make([]byte, payload)
	for _, n := range nodes[:2] {
		for i := range publishers {
			nc, err := nats.Connect(n.ClientURL())
			require.NoError(t, err)
			defer nc.Close()
			subject := fmt.Sprintf("load.%s.%d", n.Name(), i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					for range 64 {
						if nc.Publish(subject, data) != nil {
							return
						}
					}
					published.Add(64)
				}
			}()
		}
	}
	// Stop early if anything leaves: the test has failed then.
	start := time.Now()
	var leftOn []string
	for time.Since(start) < duration && len(leftOn) == 0 {
		for i, h := range logs {
			if e, ok := h.first(func(e hookEvent) bool { return !e.joined }); ok {
				leftOn = append(leftOn, fmt.Sprintf("%s after %s: %v", nodes[i].Name(), e.at.Sub(start).Round(time.Millisecond), e))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	rz, err := nodes[0].Server().Routez(nil)
	require.NoError(t, err)
	var routeBytes int64
	for _, r := range rz.Routes {
		routeBytes += r.OutBytes
	}
	t.Logf("%.1f s of load: %d messages of %d B published, %d received on c (%d slow-consumer reports), "+
		"a sent %.0f MB on its routes, producers stalled %d times",
		elapsed.Seconds(), published.Load(), payload, received.Load(), slow.Load(), float64(routeBytes)/1e6,
		strings.Count(serverLog.String(), "stalled"))
	if t.Failed() {
		t.Logf("server log:\n%s", serverLog.String())
	}
	for i, h := range logs {
		assert.Len(t, h.all(), 2, "%s must see only its two peers join, got %v", nodes[i].Name(), h)
		assert.Empty(t, h.problems(), "history of %s", nodes[i].Name())
	}
	assert.Empty(t, leftOn, "a peer was reported leaving under load")
	assert.Positive(t, received.Load())
}

// migration is what a graceful Leave cost the leaving node's clients.
type migration struct {
	took                  time.Duration // Leave called to both clients reconnected
	pubTook, subTook      time.Duration
	published, lost, dups int
	pubOn, subOn          string
}

// leaveMigration starts a, b, c; attaches a publisher (a message every
// millisecond, numbered) and a subscriber to c over TCP; calls c.Leave;
// and measures how long until both clients are on other nodes, and how
// many messages the subscriber missed. forceOnLDM makes the clients
// reconnect as soon as the server announces lame duck mode.
func leaveMigration(tb testing.TB, forceOnLDM bool) migration {
	tb.Helper()
	var nodes []*mesh.Node
	var logs []*recorder
	for i := range 3 {
		o := options.Options{Name: meshtest.Name(i)}
		if i > 0 {
			o.Seed = nodes[0].ClusterURL()
		}
		n, h := startNode(tb, o)
		nodes, logs = append(nodes, n), append(logs, h)
	}
	for _, n := range nodes {
		if err := n.WaitForPeers(boundCtx(tb, waitTimeout), 2); err != nil {
			tb.Fatal(err)
		}
	}
	c := nodes[2]

	dial := func(name string, reconnected *atomic.Pointer[time.Time]) *nats.Conn {
		opts := []nats.Option{
			nats.Name(name),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
			nats.ReconnectWait(20 * time.Millisecond),
			nats.ReconnectJitter(5*time.Millisecond, 5*time.Millisecond),
			nats.MaxReconnects(-1),
			nats.ReconnectHandler(func(*nats.Conn) {
				now := time.Now()
				reconnected.CompareAndSwap(nil, &now)
			}),
		}
		if forceOnLDM {
			opts = append(opts, nats.LameDuckModeHandler(func(nc *nats.Conn) { _ = nc.ForceReconnect() }))
		}
		nc, err := nats.Connect(c.ClientURL(), opts...)
		if err != nil {
			tb.Fatalf("connect %s: %v", name, err)
		}
		tb.Cleanup(nc.Close)
		return nc
	}
	var pubBack, subBack atomic.Pointer[time.Time]
	pub, sub := dial("publisher", &pubBack), dial("subscriber", &subBack)

	var mu sync.Mutex
	seen := map[int]int{}
	maxSeen := 0
	_, err := sub.Subscribe("migrate", func(m *nats.Msg) {
		n, _ := strconv.Atoi(string(m.Data))
		mu.Lock()
		seen[n]++
		maxSeen = max(maxSeen, n)
		mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	after, err := sub.SubscribeSync("migrate.after")
	if err != nil {
		tb.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := c.WaitForInterest(boundCtx(tb, waitTimeout), "migrate"); err != nil {
		tb.Fatal(err)
	}

	var seq atomic.Int64
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = pub.Publish("migrate", []byte(strconv.FormatInt(seq.Add(1), 10)))
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-pubDone
	}()
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return maxSeen
	}
	pollUntil(tb, waitTimeout, "the subscriber to receive", func() bool { return received() > 50 })

	now := time.Now()
	if err := c.Leave(boundCtx(tb, waitTimeout)); err != nil {
		tb.Fatal(err)
	}
	pollUntil(tb, waitTimeout, "both clients to reconnect", func() bool {
		return pubBack.Load() != nil && subBack.Load() != nil
	})
	// Messages flow again: the subscriber gets what is published from
	// now on (allowing for interest to cross a route).
	mark := int(seq.Load())
	pollUntil(tb, waitTimeout, "messages to flow again", func() bool { return received() > mark+50 })
	close(stop)
	<-pubDone
	// The moved subscriber's interest reached every remaining node: a
	// client of each, in process, reaches it.
	for _, n := range nodes[:2] {
		if err := n.WaitForInterest(boundCtx(tb, waitTimeout), "migrate.after"); err != nil {
			tb.Fatal(err)
		}
		nc, err := n.Connect()
		if err != nil {
			tb.Fatal(err)
		}
		if err := nc.Publish("migrate.after", []byte(n.Name())); err != nil {
			tb.Fatal(err)
		}
		m, err := after.NextMsg(waitTimeout)
		nc.Close()
		if err != nil {
			tb.Fatalf("subscriber moved to %s got nothing published on %s: %v", sub.ConnectedServerName(), n.Name(), err)
		}
		if string(m.Data) != n.Name() {
			tb.Errorf("got %q, want %q", m.Data, n.Name())
		}
	}

	for _, i := range []int{0, 1} {
		logs[i].await(tb, waitTimeout, nodes[i].Name()+" to report c left", isEvent("c", false, mesh.Left))
		if _, lost := logs[i].first(func(e hookEvent) bool { return e.name == "c" && e.why == mesh.Lost }); lost {
			tb.Errorf("%s reported c lost: %v", nodes[i].Name(), logs[i])
		}
	}

	m := migration{pubOn: pub.ConnectedServerName(), subOn: sub.ConnectedServerName()}
	m.pubTook, m.subTook = pubBack.Load().Sub(now), subBack.Load().Sub(now)
	m.took = max(m.pubTook, m.subTook)
	mu.Lock()
	last := maxSeen
	for n := 1; n <= last; n++ {
		switch seen[n] {
		case 0:
			m.lost++
		case 1:
		default:
			m.dups += seen[n] - 1
		}
	}
	mu.Unlock()
	m.published = last
	return m
}

// TestLeaveMigration: a publisher and a subscriber attached to a node
// that leaves end up on other nodes and keep going (the subscriber gets
// what the publisher sends, and what clients of every remaining node
// publish), the peers report the node Left, and
// the test reports how long the move took and how many messages were
// lost, for a default nats.go client and for one that reconnects as soon
// as the server announces lame duck mode.
func TestLeaveMigration(t *testing.T) {
	tests := []struct {
		name       string
		forceOnLDM bool
	}{
		{"default client", false},
		{"client reconnects on lame duck notice", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := leaveMigration(t, tt.forceOnLDM)
			assert.Contains(t, []string{"a", "b"}, m.pubOn, "publisher")
			assert.Contains(t, []string{"a", "b"}, m.subOn, "subscriber")
			t.Logf("Leave (LameDuckDuration %s) to both clients reconnected: %s (publisher %s, subscriber %s); "+
				"subscriber missed %d of the first %d messages (1 per ms), %d duplicates",
				options.DefaultLameDuckDuration, m.took.Round(time.Millisecond),
				m.pubTook.Round(time.Millisecond), m.subTook.Round(time.Millisecond), m.lost, m.published, m.dups)
		})
	}
}

// BenchmarkLeaveMigration reports, per Leave with the default options,
// migration-ms (Leave called to both of the leaving node's clients
// reconnected to peers) and lost-msgs (messages, one per millisecond, the
// subscriber missed). One iteration takes about 2 s.
func BenchmarkLeaveMigration(b *testing.B) {
	for _, force := range []bool{false, true} {
		b.Run(fmt.Sprintf("force-on-lame-duck=%v", force), func(b *testing.B) {
			var took time.Duration
			lost := 0
			for i := 0; i < b.N; i++ {
				it := &iterTB{TB: b}
				m := leaveMigration(it, force)
				it.end()
				took += m.took
				lost += m.lost
			}
			b.ReportMetric(float64(took)/float64(time.Millisecond)/float64(b.N), "migration-ms")
			b.ReportMetric(float64(lost)/float64(b.N), "lost-msgs")
		})
	}
}

// rejoinCase restarts one node of a three-node mesh a <- b, c (b and c
// seeded from a).
type rejoinCase struct {
	name    string
	restart int // index of the node restarted
	// seed returns the restarted node's seed, given the running peers.
	seed func(nodes []*mesh.Node) string
}

var rejoinCases = []rejoinCase{
	{"non-seed node, seeded from the seed", 2, func(n []*mesh.Node) string { return n[0].ClusterURL() }},
	{"seed node, seeded from a peer", 0, func(n []*mesh.Node) string { return n[1].ClusterURL() }},
	// b and c have an explicit route to a; nats-server redials it every
	// second.
	{"seed node, no seed", 0, func([]*mesh.Node) string { return "" }},
}

// rejoin runs rc and returns the time from the restarted node's Start to
// the last of its peers reporting it joined, and a description of each
// peer's time.
func rejoin(tb testing.TB, rc rejoinCase) (time.Duration, string) {
	tb.Helper()
	nodes := make([]*mesh.Node, 3)
	logs := make([]*recorder, 3)
	for i := range nodes {
		o := options.Options{Name: meshtest.Name(i)}
		if i > 0 {
			o.Seed = nodes[0].ClusterURL()
		}
		nodes[i], logs[i] = startNode(tb, o)
	}
	for _, n := range nodes {
		if err := n.WaitForPeers(boundCtx(tb, waitTimeout), 2); err != nil {
			tb.Fatal(err)
		}
	}
	old := nodes[rc.restart]
	name, oldID := old.Name(), old.ID()
	port, cport := nodePorts(old)
	var peers []int
	for i := range nodes {
		if i != rc.restart {
			peers = append(peers, i)
		}
	}
	old.Shutdown()
	for _, i := range peers {
		logs[i].await(tb, waitTimeout, nodes[i].Name()+" to report "+name+" left", isEvent(name, false, mesh.Left))
	}

	start := time.Now()
	n, h := startNode(tb, options.Options{Name: name, Port: port, ClusterPort: cport, Seed: rc.seed(nodes)})
	var last time.Time
	var each []string
	for _, i := range peers {
		e := logs[i].await(tb, waitTimeout, nodes[i].Name()+" to see "+name+" rejoin",
			func(e hookEvent) bool { return e.joined && e.id == n.ID() })
		each = append(each, fmt.Sprintf("%s after %s", nodes[i].Name(), e.at.Sub(start).Round(time.Millisecond)))
		if e.at.After(last) {
			last = e.at
		}
	}
	if err := n.WaitForPeers(boundCtx(tb, waitTimeout), 2); err != nil {
		tb.Fatal(err)
	}
	for _, i := range peers {
		var got []string
		for _, e := range logs[i].all() {
			if e.name == name {
				got = append(got, fmt.Sprintf("%v %s", e, map[string]string{oldID: "old", n.ID(): "new"}[e.id]))
			}
		}
		want := []string{"+" + name + " old", "-" + name + ":left old", "+" + name + " new"}
		if !slices.Equal(want, got) {
			tb.Errorf("%s's events about %s: got %v, want %v", nodes[i].Name(), name, got, want)
		}
		// Nothing else happened: the peer's only other event is the join
		// of the third node.
		if all := logs[i].all(); len(all) != len(want)+1 {
			tb.Errorf("%s's events: got %v, want the three about %s and one join", nodes[i].Name(), all, name)
		}
		if p := logs[i].problems(); len(p) > 0 {
			tb.Errorf("history of %s: %v", nodes[i].Name(), p)
		}
	}
	if p := h.problems(); len(p) > 0 {
		tb.Errorf("history of the restarted %s: %v", name, p)
	}
	return last.Sub(start), strings.Join(each, ", ")
}

// TestRejoin: a node restarted with the same name and ports (a new ID) is
// reported leaving once and joining once by every peer, and nothing else is
// reported. The time from its
// restart to the last peer's PeerJoined is logged: with an explicit route
// to the restarted node (it was the others' seed) and no seed of its own,
// the peers find it on nats-server's route redial, which runs every
// second.
func TestRejoin(t *testing.T) {
	for _, rc := range rejoinCases {
		t.Run(rc.name, func(t *testing.T) {
			d, each := rejoin(t, rc)
			t.Logf("restart to every peer reporting the join: %s (%s)", d.Round(time.Millisecond), each)
		})
	}
}

// BenchmarkRejoin reports rejoin-ms: from a restarted node's Start to the
// last peer's PeerJoined, per case of TestRejoin.
func BenchmarkRejoin(b *testing.B) {
	for _, rc := range rejoinCases {
		b.Run(strings.ReplaceAll(rc.name, " ", "_"), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				it := &iterTB{TB: b}
				d, _ := rejoin(it, rc)
				total += d
				it.end()
			}
			b.ReportMetric(float64(total)/float64(time.Millisecond)/float64(b.N), "rejoin-ms")
		})
	}
}

// TestGossipedRouteHeals: a route between two healthy nodes that neither
// seeded from (a gossiped, "implicit" route in nats-server's terms) comes
// back after a fault. nats-server itself redials such a route only
// Cluster.ConnectRetries times (its default: never), so two nodes could
// stay apart for good, each still meshed with the others: a partial mesh,
// in which messages between their clients are lost (a node forwards one hop
// only). With mesh's defaults both faults heal: a refusal at join time on
// nats-server's retries, a cut longer than detection by the node redialling
// the peer it lost.
//
// Nodes: a (no proxy) is the seed of b and c; b and c are behind proxies,
// so the b-c route is the only one that crosses a proxy.
func TestGossipedRouteHeals(t *testing.T) {
	const (
		healBound = 10 * time.Second
		hold      = 2 * time.Second // longer than nats-server's one redial
	)
	faults := []struct {
		name string
		// faultyStart starts c while its proxy refuses connections.
		faultyStart bool
		// run injects the fault (if not at start) and heals it.
		run func(t *testing.T, hb, hc *recorder, pb, pc *meshtest.Proxy)
	}{
		{"network cut between b and c", false, func(t *testing.T, hb, hc *recorder, pb, pc *meshtest.Proxy) {
			pb.Cut()
			pc.Cut()
			hb.await(t, detectBound, "b to lose c", isEvent("c", false, mesh.Lost))
			hc.await(t, detectBound, "c to lose b", isEvent("b", false, mesh.Lost))
			holdFor(hold)
			pb.Pass()
			pc.Pass()
		}},
		{"c's advertised route address refuses when c joins", true, func(t *testing.T, hb, hc *recorder, pb, pc *meshtest.Proxy) {
			holdFor(hold)
			pc.Pass()
		}},
	}
	for _, f := range faults {
		{
			t.Run(f.name, func(t *testing.T) {
				withRetries := func(name, seed string) options.Options { // mesh's defaults
					return options.Options{Name: name, Seed: seed}
				}
				a, _ := startNode(t, withRetries("a", ""))
				b, hb, pb := startBehindProxy(t, withRetries("b", a.ClusterURL()))
				require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
				var pc *meshtest.Proxy
				var hc *recorder
				if f.faultyStart {
					pc = meshtest.NewProxy(t, "")
					pc.Drop()
					o := withRetries("c", a.ClusterURL())
					o.ClusterAdvertise = pc.Addr()
					var c *mesh.Node
					c, hc = startNode(t, o)
					pc.SetTarget(c.Server().ClusterAddr().String())
					require.NoError(t, a.WaitForPeers(ctxFor(t), 2))
				} else {
					var c *mesh.Node
					c, hc, pc = startBehindProxy(t, withRetries("c", a.ClusterURL()))
					require.NoError(t, c.WaitForPeers(ctxFor(t), 2))
					require.NoError(t, b.WaitForPeers(ctxFor(t), 2))
					require.NotEmpty(t, append(routesTo(t, b, c.ID()), routesTo(t, c, b.ID())...))
				}
				f.run(t, hb, hc, pb, pc)
				healed := time.Now()
				sees := func(h *recorder, name string) bool {
					return slices.ContainsFunc(h.node.Load().Peers(), func(p mesh.Peer) bool { return p.Name == name })
				}
				pollUntil(t, healBound, "b and c to see each other again", func() bool {
					return sees(hb, "c") && sees(hc, "b")
				})
				t.Logf("b and c meshed again %s after the fault ended", time.Since(healed).Round(time.Millisecond))
				assert.Empty(t, hb.problems(), "history of b: %v", hb)
				assert.Empty(t, hc.problems(), "history of c: %v", hc)
			})
		}
	}
}

// holdFor lets an injected fault last d. It is the fault's duration, not
// a wait for a condition.
func holdFor(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	<-tm.C
}
