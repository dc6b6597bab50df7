package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/options"
)

// TestAloneSkipsDeparted: a node left alone redials the peers it lost,
// not those that said goodbye (their ports may be another server's by
// now); a departed peer that joins again is redialled again, and the
// peers file keeps them all.
func TestAloneSkipsDeparted(t *testing.T) {
	t.Parallel()
	peersFile := t.TempDir() + "/peers"
	a, err := Start(options.Options{Name: "a", Cluster: "alone-skips-departed", PeersFile: peersFile})
	require.NoError(t, err)
	t.Cleanup(a.Shutdown)
	b, err := Start(options.Options{Name: "b", Cluster: "alone-skips-departed", Seed: a.ClusterURL()})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.WaitForPeers(ctx, 1))
	bURL := b.ClusterURL()
	b.Shutdown()

	redials := func() []string {
		var out []string
		for _, u := range a.joiner.seeds() {
			out = append(out, u.String())
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Peers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Empty(t, a.Peers())
	// The tracker tells the joiner after the hook; give it the moment.
	for time.Now().Before(deadline) && slices.Contains(redials(), bURL) {
		time.Sleep(time.Millisecond)
	}
	assert.NotContains(t, redials(), bURL, "b said goodbye: not redialled")
	a.joiner.mu.Lock()
	remembered := slices.Clone(a.joiner.remembered)
	a.joiner.mu.Unlock()
	assert.Contains(t, remembered, bURL, "b stays in the peers file")

	lost := "nats://127.0.0.1:1"
	a.joiner.remember(lost)
	a.joiner.left(Peer{Name: "x", ClusterURL: lost}, Lost)
	assert.Contains(t, redials(), lost, "a lost peer is redialled")
	a.joiner.left(Peer{Name: "x", ClusterURL: lost}, Left)
	assert.NotContains(t, redials(), lost)
	a.joiner.remember(lost) // x joins again
	assert.Contains(t, redials(), lost, "a departed peer that joined again is redialled")
}

// TestAloneSkipsManyDeparted: however many peers have come and gone (more
// than the joiner remembers), none that said goodbye is redialled.
func TestAloneSkipsManyDeparted(t *testing.T) {
	t.Parallel()
	a, err := Start(options.Options{Name: "a", Cluster: "alone-skips-many-departed"})
	require.NoError(t, err)
	t.Cleanup(a.Shutdown)
	var lost string
	for i := range 3 * rememberMax {
		u := fmt.Sprintf("nats://127.0.0.1:%d", 20000+i)
		a.joiner.remember(u)
		if i == 2*rememberMax+5 {
			lost = u
			a.joiner.left(Peer{Name: "lost", ClusterURL: u}, Lost)
			continue
		}
		a.joiner.left(Peer{Name: "gone", ClusterURL: u}, Left)
	}
	var redialled []string
	for _, u := range a.joiner.rememberedURLs() {
		redialled = append(redialled, u.String())
	}
	assert.Equal(t, []string{lost}, redialled, "only the lost peer is redialled")
	a.joiner.mu.Lock()
	defer a.joiner.mu.Unlock()
	assert.LessOrEqual(t, len(a.joiner.departed), rememberMax)
}

// TestAloneMeansNoRoute: a node whose route is up is not alone, even
// before any peer is described (while a large mesh forms on a busy
// machine, describes come more than a second after the routes), so its
// joiner neither warns that no peer answered nor reloads its routes; a
// node with neither a route nor a peer is alone.
func TestAloneMeansNoRoute(t *testing.T) {
	t.Parallel()
	// A server that routes but is never described: without a system
	// account it has neither natsmesh's responder nor a VARZ one.
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true, NoSystemAccount: true,
		Cluster: server.ClusterOpts{Name: "alone-means-no-route", Host: "127.0.0.1", Port: server.RANDOM_PORT},
	})
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second))

	lonely, err := Start(options.Options{Name: "lonely", Cluster: "alone-means-no-route"})
	require.NoError(t, err)
	t.Cleanup(lonely.Shutdown)
	assert.True(t, lonely.joiner.alone(), "no seed, no route, no peer")

	routed, err := Start(options.Options{Name: "routed", Cluster: "alone-means-no-route", Seed: "nats://" + s.ClusterAddr().String()})
	require.NoError(t, err)
	t.Cleanup(routed.Shutdown)
	waitFor(t, "a route to the undescribed server", func() bool { return routed.Server().NumRoutes() > 0 })
	require.Positive(t, routed.Server().NumRoutes(), "route to the undescribed server")
	assert.Empty(t, routed.Peers(), "the undescribed server is no peer")
	assert.False(t, routed.joiner.alone(), "a node with a route is not alone")
}

// stallingProvider answers each call before its stallAt-th with its seed
// at once, then ignores its context until released: it stands for a slow
// DNS answer that is under way when the node starts stopping.
type stallingProvider struct {
	seed    *url.URL
	stallAt int64
	calls   atomic.Int64
	release chan struct{}
}

func (p *stallingProvider) Discover(context.Context) ([]*url.URL, error) {
	if p.calls.Add(1) < p.stallAt {
		return []*url.URL{p.seed}, nil
	}
	<-p.release
	return []*url.URL{p.seed}, nil
}

// TestAloneStopsMidDiscover: a joiner that is asking a slow seed provider
// when the node starts stopping ends there: it neither reloads the
// stopping server's routes nor logs anything about its seeds. (It used to
// wait for the end of stopRuntime's farewell to abandon the call, then
// reload the routes without the discovered seed and log it.)
func TestAloneStopsMidDiscover(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Nothing listens on either seed: the node stays alone.
	p := &stallingProvider{seed: &url.URL{Scheme: "nats", Host: "127.0.0.1:2"}, stallAt: 3, release: make(chan struct{})}
	t.Cleanup(func() { close(p.release) })
	n, err := Start(options.Options{Name: "a", Cluster: "alone-stops-mid-discover",
		Seed: "nats://127.0.0.1:1", SeedProvider: p, DiscoverTimeout: time.Hour, Logger: logger})
	require.NoError(t, err)
	waitFor(t, "the joiner's stalled Discover call", func() bool { return p.calls.Load() >= p.stallAt })
	require.Equal(t, p.stallAt, p.calls.Load(), "the joiner is in its stalled Discover call")
	before := len(logs.String())
	n.Shutdown()
	after := logs.String()[before:]
	assert.NotContains(t, after, "seeds updated", "no reload of a stopping node's routes")
	assert.NotContains(t, after, "still trying the seeds")
	assert.NotContains(t, after, "cannot update the seeds")
}
