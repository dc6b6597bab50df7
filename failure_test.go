package natsmesh_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// Failure detection and recovery: how fast a silent peer is reported
// lost, that a busy peer is not, and that a route between two healthy nodes
// comes back after a fault. (What a graceful Leave costs clients is in
// lifecycle_test.go, how a restarted node rejoins in membership_test.go.)
// Speed is reported (t.Log and benchmarks),
// never asserted: the machine is shared and timings are noisy. The bounds
// below only keep a broken build from hanging.

// detectBound bounds the wait for a silent peer to be reported lost. With
// the defaults it takes 2 to 3 s; the bound is generous for -race on a
// loaded machine.
const detectBound = 30 * time.Second

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
	var serverLog syncbuf.Buffer
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
