package meshbench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// ChurnNodes is the cluster size of Churn.
const ChurnNodes = 3

// ChurnWorkers is how many clients Churn keeps connecting at once.
const ChurnWorkers = 8

// maxLagSamples bounds the hook latencies Churn keeps per hook.
const maxLagSamples = 1 << 18

// Churn is what one Churn run measured.
type Churn struct {
	Kind Kind
	// Blocked is whether the ClientConnected hook blocked for the whole
	// run.
	Blocked bool
	// Cycles is how many clients connected and disconnected; Elapsed is
	// how long they took.
	Cycles  int
	Elapsed time.Duration
	// CPU is the process's CPU time (user and system, getrusage) during
	// the churn, clients included; 0 where it cannot be read. Per cycle
	// it is steadier than Rate on a shared machine.
	CPU time.Duration
	// ConnectLag and DisconnectLag (MeshHooks only) are, for each
	// ClientConnected and ClientDisconnected call, the moment the hook
	// was entered minus the connection's ConnectedAt or DisconnectedAt
	// (set by nats-server when it accepted or closed the connection):
	// the advisory's trip through the system account, the node's
	// decoding and its hook queue. At most 2^18 of each are kept.
	// Hooked counts every call of either hook.
	ConnectLag, DisconnectLag []time.Duration
	Hooked                    int
	// HeapBefore is the live heap (after a full GC) with the cluster
	// formed, just before the churn; HeapPeak the largest HeapAlloc seen
	// during it (sampled every 20 ms, garbage included); HeapAfter the
	// live heap once it ended (with a blocked hook: before the hook is
	// released, so with the backlog); HeapDrained, with a blocked hook,
	// the live heap once it was released and the backlog drained.
	HeapBefore, HeapPeak, HeapAfter, HeapDrained float64
	// Backlog, MaxBacklog, Dropped and Missed sum Node.HookStats over the nodes
	// when the churn ended (before a blocked hook is released); Warned is
	// how many nodes logged that their hooks fall behind, Crowded how many
	// had a MaxBacklog of at least mesh.HookBacklogWarn, and Warnings
	// how many such lines there were in all (one per crowded node is
	// right).
	Backlog, MaxBacklog       int
	Dropped, Missed           uint64
	Warned, Crowded, Warnings int
}

// Rate returns the clients connected and disconnected per second.
func (c Churn) Rate() float64 {
	if c.Elapsed <= 0 {
		return 0
	}
	return float64(c.Cycles) / c.Elapsed.Seconds()
}

// CPUPerCycle returns CPU over Cycles, or 0.
func (c Churn) CPUPerCycle() time.Duration {
	if c.Cycles == 0 {
		return 0
	}
	return c.CPU / time.Duration(c.Cycles)
}

// BacklogBytes returns the live heap the backlog held per queued event
// ((HeapAfter-HeapDrained) over Backlog: nats-server's own memory of
// closed connections is on both sides), or 0 without a backlog.
func (c Churn) BacklogBytes() float64 {
	if c.Backlog == 0 {
		return 0
	}
	return (c.HeapAfter - c.HeapDrained) / float64(c.Backlog)
}

// RunChurn measures client churn on a 3-node cluster of the given kind
// (Raw, Mesh or MeshHooks): for d, ChurnWorkers goroutines each connect a
// nats.go client over TCP to one node after another (round robin), and
// close it as soon as nats.Connect has returned, as fast as they can.
//
// MeshHooks nodes have every hook on (AllHooks) and record the latency of
// ClientConnected and ClientDisconnected; with blocked the
// ClientConnected hook of every node blocks until the run ends, so events
// queue behind it. After the churn, unless blocked, RunChurn waits (at
// most Wait) for every node's hook backlog to drain before it reads the
// heap. It closes the cluster before returning.
func RunChurn(kind Kind, blocked bool, d time.Duration) (Churn, error) {
	if kind != Raw && kind != Mesh && kind != MeshHooks {
		return Churn{}, fmt.Errorf("meshbench: churn on %s, want %s, %s or %s", kind, Raw, Mesh, MeshHooks)
	}
	if blocked && kind != MeshHooks {
		return Churn{}, fmt.Errorf("meshbench: a blocked hook needs %s, not %s", MeshHooks, kind)
	}
	res := Churn{Kind: kind, Blocked: blocked}
	rec := &lagRecorder{}
	gate := make(chan struct{})
	var release sync.Once
	open := func() { release.Do(func() { close(gate) }) }
	defer open()
	warns := &warnCounter{}

	var c *Cluster
	var err error
	if kind == MeshHooks {
		c, err = formChurnMesh(rec, warns, blocked, gate)
	} else {
		c, err = Start(kind, ChurnNodes)
	}
	if err != nil {
		return res, err
	}
	defer c.Close()
	// Closing the cluster with a blocked hook: release it first.
	defer open()

	quiesce(20*time.Millisecond, 300*time.Millisecond)
	res.HeapBefore = liveHeap()
	stopPeak := make(chan struct{})
	peakDone := make(chan float64)
	go watchPeak(stopPeak, peakDone)

	cpuBefore, cpuErr := cpuTime()
	cycles, elapsed, err := churn(c, d)
	if cpuAfter, err := cpuTime(); err == nil && cpuErr == nil {
		res.CPU = cpuAfter - cpuBefore
	}
	close(stopPeak)
	res.HeapPeak = <-peakDone
	if err != nil {
		return res, err
	}
	res.Cycles, res.Elapsed = cycles, elapsed
	if kind != Raw && !blocked {
		if err := drained(c.Nodes); err != nil {
			return res, err
		}
	}
	res.HeapAfter = liveHeap()
	for _, n := range c.Nodes {
		s := n.HookStats()
		res.Backlog += s.Backlog
		res.MaxBacklog += s.MaxBacklog
		res.Dropped += s.Dropped
		res.Missed += s.Missed
		if s.MaxBacklog >= mesh.HookBacklogWarn {
			res.Crowded++
		}
	}
	res.Warned, res.Warnings = warns.nodes()
	if blocked {
		open()
		if err := drained(c.Nodes); err != nil {
			return res, err
		}
		res.HeapDrained = liveHeap()
	}
	res.ConnectLag, res.DisconnectLag, res.Hooked = rec.results()
	return res, nil
}

// formChurnMesh forms RunChurn's MeshHooks cluster.
func formChurnMesh(rec *lagRecorder, warns *warnCounter, blocked bool, gate <-chan struct{}) (*Cluster, error) {
	mc, err := meshtest.Form(ChurnNodes, func(i int, o *options.Options) {
		AllHooks(o)
		o.Logger = slog.New(warns.handler(meshtest.Name(i)))
		o.Hooks.ClientConnected = func(cl mesh.Client) {
			rec.connected(time.Since(cl.ConnectedAt))
			if blocked {
				select {
				case <-gate:
				case <-time.After(Wait):
				}
			}
		}
		o.Hooks.ClientDisconnected = func(cl mesh.Client) { rec.disconnected(time.Since(cl.DisconnectedAt)) }
	})
	if err != nil {
		return nil, fmt.Errorf("meshbench: mesh of %d: %w", ChurnNodes, err)
	}
	c := &Cluster{Kind: MeshHooks, Nodes: mc.Nodes, Servers: make([]*server.Server, len(mc.Nodes))}
	for i, n := range mc.Nodes {
		c.Servers[i] = n.Server()
	}
	return c, nil
}

// churn connects and closes clients on c for d, ChurnWorkers at a time,
// and returns how many and how long they took.
func churn(c *Cluster, d time.Duration) (int, time.Duration, error) {
	var (
		cycles  atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range ChurnWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i++ {
				nc, err := nats.Connect(c.ClientURL(i%len(c.Servers)), nats.Name("bench-churn"), nats.NoReconnect())
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("meshbench: churn client: %w", err) })
					return
				}
				nc.Close()
				cycles.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(cycles.Load()), time.Since(start), first
}

// drained waits until every node's hook backlog is empty and no hook
// runs, or Wait passes.
func drained(nodes []*mesh.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	for {
		busy := 0
		for _, n := range nodes {
			if s := n.HookStats(); s.Backlog > 0 || s.Running != "" {
				busy++
			}
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meshbench: %d nodes' hook backlogs not drained within %s", busy, Wait)
		case <-time.After(time.Millisecond):
		}
	}
}

// liveHeap returns HeapAlloc after a full garbage collection.
func liveHeap() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc)
}

// watchPeak sends the largest HeapAlloc seen, every 20 ms, once stop is
// closed.
func watchPeak(stop <-chan struct{}, out chan<- float64) {
	peak := 0.0
	read := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, float64(ms.HeapAlloc))
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		read()
		select {
		case <-stop:
			read()
			out <- peak
			return
		case <-t.C:
		}
	}
}

// lagRecorder keeps the client hooks' latencies.
type lagRecorder struct {
	mu                  sync.Mutex
	connect, disconnect []time.Duration
	calls               int
}

func (r *lagRecorder) connected(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if len(r.connect) < maxLagSamples {
		r.connect = append(r.connect, d)
	}
}

func (r *lagRecorder) disconnected(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if len(r.disconnect) < maxLagSamples {
		r.disconnect = append(r.disconnect, d)
	}
}

func (r *lagRecorder) results() (connect, disconnect []time.Duration, calls int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.connect), slices.Clone(r.disconnect), r.calls
}

// warnCounter counts, per node, the WARN lines that say its hooks fall
// behind; it drops the other lines about the hook backlog and passes
// every other warning and error to standard error, as a node without a
// Logger does.
type warnCounter struct {
	mu    sync.Mutex
	count map[string]int
}

func (w *warnCounter) handler(node string) slog.Handler {
	next := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}).
		WithAttrs([]slog.Attr{slog.String("node", node)})
	return &warnHandler{w: w, node: node, next: next}
}

// nodes returns how many nodes warned, and how many warnings there were.
func (w *warnCounter) nodes() (nodes, lines int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.count {
		lines += n
	}
	return len(w.count), lines
}

type warnHandler struct {
	w    *warnCounter
	node string
	next slog.Handler
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *warnHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *warnHandler) WithGroup(string) slog.Handler                { return h }
func (h *warnHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "hook backlog") {
		return nil
	}
	if r.Level != slog.LevelWarn || !strings.Contains(r.Message, "hooks are falling behind") {
		return h.next.Handle(ctx, r)
	}
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	if h.w.count == nil {
		h.w.count = map[string]int{}
	}
	h.w.count[h.node]++
	return nil
}
