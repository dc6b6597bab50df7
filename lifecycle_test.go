package natsmesh_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
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

// A node's life and its end: the end is observable whatever causes it,
// every method is safe and quick afterwards and while it happens (Leave and
// Shutdown together included), Connect stays bounded, and what a graceful
// Leave costs the leaving node's clients (TestLeaveMigration).

// quickBound is how long a call on a stopped node, or one racing its end,
// may take: it answers at once, so this only absorbs a loaded machine.
const quickBound = 2 * time.Second

// TestNodeEnd: a node's life has an observable end, whatever ends it, and
// every method is safe and quick afterwards.
func TestNodeEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		end     func(n *mesh.Node)
		wantErr error // nil: Err is nil
	}{
		{"Shutdown", func(n *mesh.Node) { n.Shutdown() }, nil},
		{"Leave", func(n *mesh.Node) { _ = n.Leave(context.Background()) }, nil},
		{"server shut down under the node", func(n *mesh.Node) { n.Server().Shutdown() }, mesh.ErrServerStopped},
		{"fatal server error", func(n *mesh.Node) { n.Server().Fatalf("disk on fire") }, mesh.ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			quiet := slog.New(slog.DiscardHandler) // the end of b is logged as an error
			a, _ := startNode(t, options.Options{Name: "a", Logger: quiet})
			b, _ := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL(), Logger: quiet, LameDuckDuration: 100 * time.Millisecond})
			require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
			require.NoError(t, a.WaitForPeers(ctxFor(t), 1))
			clientURL, clusterURL := b.ClientURL(), b.ClusterURL()
			select {
			case <-b.Done():
				t.Fatal("Done closed on a running node")
			default:
			}
			require.NoError(t, b.Err())

			tt.end(b)
			select {
			case <-b.Done():
			case <-time.After(waitTimeout):
				t.Fatal("Done not closed")
			}
			if tt.wantErr == nil {
				assert.NoError(t, b.Err())
			} else {
				assert.ErrorIs(t, b.Err(), tt.wantErr)
				assert.Contains(t, b.Err().Error(), "b")
			}
			checkStopped(t, b, clientURL, clusterURL)
			// The peer sees it go.
			eventually(t, "a to see b go", func() bool { return len(a.Peers()) == 0 })
			// Ending it again, either way, is safe.
			b.Shutdown()
			assert.NoError(t, b.Leave(ctxFor(t)))
		})
	}
}

// checkStopped checks that every method of a stopped node answers at once
// and sensibly.
func checkStopped(t *testing.T, n *mesh.Node, clientURL, clusterURL string) {
	t.Helper()
	start := time.Now()
	assert.Equal(t, clientURL, n.ClientURL())
	assert.Equal(t, clusterURL, n.ClusterURL())
	assert.Empty(t, n.Peers())
	assert.ErrorIs(t, n.WaitForPeers(context.Background(), 1), mesh.ErrShutdown)
	assert.ErrorIs(t, n.WaitForPeers(context.Background(), 0), mesh.ErrShutdown)
	assert.ErrorIs(t, n.WaitForInterest(context.Background(), "x"), mesh.ErrShutdown)
	nc, err := n.Connect()
	assert.ErrorIs(t, err, mesh.ErrShutdown)
	assert.Nil(t, nc)
	assert.NotEmpty(t, n.Name())
	assert.NotEmpty(t, n.ID())
	assert.Less(t, time.Since(start), quickBound)
}

// TestNodeEndRaces: Shutdown, Leave, Peers, WaitForPeers, Connect and the
// URL methods called from many goroutines while the node ends, round after
// round: nothing panics, races, or waits longer than it may. A Connect
// racing Leave either connects or fails, within ConnectTimeout.
func TestNodeEndRaces(t *testing.T) {
	t.Parallel()
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	seed, _ := startNode(t, options.Options{Name: "seed"})
	var connected, refused atomic.Int64
	for round := range rounds {
		n, err := mesh.Start(options.Options{
			Name: fmt.Sprintf("n%d", round), Cluster: clusterName(t), Seed: seed.ClusterURL(), LameDuckDuration: 20 * time.Millisecond,
		})
		require.NoError(t, err)
		clientURL, clusterURL := n.ClientURL(), n.ClusterURL()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				began := time.Now()
				nc, err := n.Connect(nats.Timeout(time.Minute))
				if took := time.Since(began); took > mesh.ConnectTimeout+quickBound {
					t.Errorf("Connect took %s", took)
				}
				if err != nil {
					refused.Add(1)
					return
				}
				connected.Add(1)
				nc.Close()
			})
		}
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := n.WaitForPeers(ctx, 5); err != nil && !errors.Is(err, mesh.ErrShutdown) {
				t.Errorf("WaitForPeers: %v", err)
			}
		})
		for range 4 {
			wg.Go(func() {
				<-start
				for range 20 {
					_ = n.Peers()
					assert.Equal(t, clientURL, n.ClientURL())
					assert.Equal(t, clusterURL, n.ClusterURL())
					_ = n.MonitorURL()
					_ = n.Err()
				}
			})
		}
		wg.Go(func() {
			<-start
			// Jitter, so that some Connects are under way when the
			// node goes and some have not started.
			time.Sleep(rand.N(2 * time.Millisecond))
			if round%2 == 0 {
				_ = n.Leave(context.Background())
			} else {
				n.Shutdown()
			}
		})
		wg.Go(func() {
			<-start
			time.Sleep(rand.N(2 * time.Millisecond))
			n.Shutdown()
		})
		close(start)
		wg.Wait()
		select {
		case <-n.Done():
		case <-time.After(waitTimeout):
			t.Fatalf("round %d: Done not closed", round)
		}
		assert.NoError(t, n.Err())
		checkStopped(t, n, clientURL, clusterURL)
		if t.Failed() {
			t.Fatalf("round %d failed", round)
		}
	}
	t.Logf("%d rounds: %d connects succeeded, %d refused", rounds, connected.Load(), refused.Load())
}

// TestConnectBoundedWhileServerStopsReading: a server in lame-duck mode
// takes an in-process connection, sends its INFO and never reads the
// CONNECT; Connect still returns, within ConnectTimeout, even with a
// nats.go Timeout far longer.
func TestConnectBoundedWhileServerStopsReading(t *testing.T) {
	t.Parallel()
	n, _ := startNode(t, options.Options{LameDuckDuration: time.Minute})
	// A client keeps the lame duck going (no clients: it ends at once).
	nc, err := nats.Connect(n.ClientURL(), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	go n.Server().LameDuckShutdown()
	// Lame duck closes the client listener first.
	eventually(t, "lame-duck mode", func() bool { return n.Server().Addr() == nil })
	began := time.Now()
	c, err := n.Connect(nats.Timeout(time.Minute))
	took := time.Since(began)
	if c != nil {
		c.Close()
	}
	require.Error(t, err)
	assert.Less(t, took, mesh.ConnectTimeout+quickBound)
	t.Logf("Connect failed after %s: %v", took.Round(time.Millisecond), err)

	// Shutdown is bounded too, even when lame duck began before the
	// node's own in-process connections were up (it once waited two
	// minutes on the stalled handshake of its system connection).
	began = time.Now()
	n.Shutdown()
	assert.Less(t, time.Since(began), mesh.ConnectTimeout+quickBound)
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

// TestLeaveAndShutdownConcurrently: both are idempotent and safe together.
func TestLeaveAndShutdownConcurrently(t *testing.T) {
	check := noGoroutineLeak(t)
	a, err := mesh.Start(options.Options{Cluster: clusterName(t), LameDuckDuration: 100 * time.Millisecond})
	require.NoError(t, err)
	b, err := mesh.Start(options.Options{Cluster: clusterName(t), Seed: a.ClusterURL(), LameDuckDuration: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, n := range []*mesh.Node{a, b} {
				if i%2 == 0 {
					_ = n.Leave(context.Background())
				} else {
					n.Shutdown()
				}
			}
		}()
	}
	wg.Wait()
	_, err = a.Connect()
	assert.ErrorIs(t, err, mesh.ErrShutdown)
	assert.ErrorIs(t, a.WaitForPeers(context.Background(), 5), mesh.ErrShutdown)
	check()
}

// TestTinyLameDuckDuration: any positive LameDuckDuration is accepted (a
// zero grace period would mean nats-server's 10 s and be refused).
func TestTinyLameDuckDuration(t *testing.T) {
	n, err := mesh.Start(options.Options{LameDuckDuration: 5})
	require.NoError(t, err)
	require.NoError(t, n.Leave(ctxFor(t)))
}
