package mesh

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/options"
)

// testWait bounds every wait in these tests.
const testWait = 15 * time.Second

// logRecorder is a slog.Handler that keeps every record's level and
// message.
type logRecorder struct {
	mu    sync.Mutex
	lines []string // "WARN message"
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, rec.Level.String()+" "+rec.Message)
	return nil
}

// count returns how many records are at level and contain text.
func (r *logRecorder) count(level slog.Level, text string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.HasPrefix(l, level.String()+" ") && strings.Contains(l, text) {
			n++
		}
	}
	return n
}

// waitFor fails t unless cond holds within testWait, polling every
// millisecond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", testWait, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// gate is a hook that blocks while the gate is shut.
type gate struct{ open chan struct{} }

func newGate(t *testing.T) *gate {
	g := &gate{open: make(chan struct{})}
	t.Cleanup(g.release) // a failed test does not leave the hook blocked
	return g
}

func (g *gate) wait() {
	select {
	case <-g.open:
	case <-time.After(testWait):
	}
}

var gateMu sync.Mutex

func (g *gate) release() {
	gateMu.Lock()
	defer gateMu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// TestDispatcherBacklogBound: with a blocked hook the backlog grows to the
// limit, then droppable events are dropped and counted while membership
// events are still queued; the node warns once when the backlog passes the
// warning bound, once at the first drop, and once when it has drained,
// and warns again for a later backlog.
func TestDispatcherBacklogBound(t *testing.T) {
	logs := &logRecorder{}
	var mu sync.Mutex
	var cur atomic.Pointer[gate]
	g := newGate(t)
	cur.Store(g)
	calls := 0
	d := newDispatcher(options.Hooks{
		ClientConnected: func(Client) {
			mu.Lock()
			calls++
			mu.Unlock()
			cur.Load().wait()
		},
		PeerJoined: func(Peer) {},
	}, slog.New(logs))
	t.Cleanup(d.stop)
	d.mu.Lock()
	d.warnAt, d.limit = 8, 16
	d.mu.Unlock()

	const falling, full, drained = "hooks are falling behind", "hook backlog full", "hook backlog drained"
	d.post(event{kind: evClientConnected, client: Client{ID: 1}})
	waitFor(t, "the first hook running", func() bool { return d.stats().Running == "ClientConnected" })
	for i := range 7 {
		d.post(event{kind: evClientConnected, client: Client{ID: uint64(i + 2)}})
	}
	s := d.stats()
	assert.Equal(t, 7, s.Backlog)
	assert.Zero(t, logs.count(slog.LevelWarn, falling), "warned below the bound")
	for i := range 13 { // 9 more queued up to the limit of 16, 4 dropped
		d.post(event{kind: evClientConnected, client: Client{ID: uint64(i + 9)}})
	}
	d.post(event{kind: evJoined, peer: Peer{ID: "P1", Name: "p1"}})
	d.post(event{kind: evJoined, peer: Peer{ID: "P2", Name: "p2"}})
	s = d.stats()
	assert.Equal(t, 18, s.Backlog, "membership events are queued past the limit")
	assert.Equal(t, 18, s.MaxBacklog)
	assert.Equal(t, uint64(4), s.Dropped)
	assert.Equal(t, uint64(1), s.Delivered)
	assert.Equal(t, "ClientConnected", s.Running)
	assert.Positive(t, s.Oldest)
	assert.Positive(t, s.RunningFor)
	assert.Equal(t, 1, logs.count(slog.LevelWarn, falling))
	assert.Equal(t, 1, logs.count(slog.LevelWarn, full))

	g.release()
	waitFor(t, "the backlog drained", func() bool {
		s := d.stats()
		return s.Backlog == 0 && s.Running == ""
	})
	s = d.stats()
	assert.Equal(t, uint64(19), s.Delivered)
	assert.Zero(t, s.Oldest)
	peers, _ := d.peers()
	assert.Len(t, peers, 2, "no membership event was dropped")
	waitFor(t, "the drained line", func() bool { return logs.count(slog.LevelWarn, drained) == 1 })
	mu.Lock()
	assert.Equal(t, 17, calls)
	mu.Unlock()

	// A later backlog warns again, once; drained without drops: INFO.
	g2 := newGate(t)
	cur.Store(g2)
	for i := range 12 {
		d.post(event{kind: evClientConnected, client: Client{ID: uint64(100 + i)}})
	}
	assert.Equal(t, 2, logs.count(slog.LevelWarn, falling))
	assert.Equal(t, 1, logs.count(slog.LevelWarn, full))
	g2.release()
	waitFor(t, "the second drained line", func() bool { return logs.count(slog.LevelInfo, drained) == 1 })
	assert.Equal(t, uint64(4), d.stats().Dropped)
}

// TestNodeHookStats: a node whose ClientConnected hook blocks reports its
// backlog through HookStats while clients connect, warns once through
// Options.Logger, and reports no backlog once stopped.
func TestNodeHookStats(t *testing.T) {
	logs := &logRecorder{}
	g := newGate(t)
	n, err := Start(options.Options{
		Name:   "stats",
		Logger: slog.New(logs),
		Hooks:  options.Hooks{ClientConnected: func(Client) { g.wait() }},
	})
	require.NoError(t, err)
	t.Cleanup(n.Shutdown)
	n.disp.mu.Lock()
	n.disp.warnAt = 5
	n.disp.mu.Unlock()

	// Connections from elsewhere (another process dialling a port it
	// once had) would be reported too: counts are at least, not exactly.
	const clients = 12
	for i := range clients {
		nc, err := nats.Connect(n.ClientURL(), nats.Name("churn"))
		require.NoError(t, err, "client %d", i)
		t.Cleanup(nc.Close)
	}
	waitFor(t, "every connect queued behind the blocked hook", func() bool {
		return n.HookStats().Backlog >= clients-1
	})
	s := n.HookStats()
	assert.Equal(t, "ClientConnected", s.Running)
	assert.Positive(t, s.RunningFor)
	assert.Equal(t, uint64(1), s.Delivered)
	assert.Zero(t, s.Dropped)
	assert.Zero(t, s.Missed)
	assert.Positive(t, s.Oldest)
	assert.Equal(t, 1, logs.count(slog.LevelWarn, "hooks are falling behind"))

	g.release()
	waitFor(t, "the backlog drained", func() bool {
		s := n.HookStats()
		return s.Backlog == 0 && s.Delivered >= clients
	})
	n.Shutdown()
	assert.Zero(t, n.HookStats().Backlog)
	var nilNode *Node
	assert.Equal(t, HookStats{}, nilNode.HookStats())
}
