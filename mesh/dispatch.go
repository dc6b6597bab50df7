package mesh

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/natsmesh/natsmesh/options"
)

// eventKind says which hook an event is for.
type eventKind int

const (
	evJoined eventKind = iota + 1
	evLeft
	evClientConnected
	evClientDisconnected
	evSlowConsumer
	evAuthFailed
	evRouteError
	evTraffic
	evCall // run fn on the dispatcher goroutine, in order with the hooks
)

// String returns the name of the hook the kind is for.
func (k eventKind) String() string {
	switch k {
	case evJoined:
		return "PeerJoined"
	case evLeft:
		return "PeerLeft"
	case evClientConnected:
		return "ClientConnected"
	case evClientDisconnected:
		return "ClientDisconnected"
	case evSlowConsumer:
		return "SlowConsumer"
	case evAuthFailed:
		return "AuthFailed"
	case evRouteError:
		return "RouteError"
	case evTraffic:
		return "Traffic"
	case evCall:
		return "call"
	case 0:
		return "none"
	}
	return "unknown"
}

// event is one thing to tell the hooks about.
type event struct {
	kind     eventKind
	peer     Peer        // evJoined, evLeft
	why      LeaveReason // evLeft
	client   Client      // evClient*, evSlowConsumer, evAuthFailed
	routeErr RouteError  // evRouteError
	traffic  Traffic     // evTraffic
	fn       func()      // evCall
	at       time.Time   // when it was posted (set by post)
}

// droppable reports whether an event may be dropped when the backlog is at
// its limit: client, slow-consumer, authentication, route-error and traffic
// events, which nats-server also publishes as advisories. Membership
// events never are (Peers and WaitForPeers follow them, and each change is
// reported exactly once), nor are calls.
func (k eventKind) droppable() bool {
	switch k {
	case evJoined, evLeft, evCall:
		return false
	}
	return true
}

// HookBacklogWarn is the hook backlog at which a node warns, once, through
// Options.Logger at level WARN, that its hooks are falling behind: the
// warning names the hook running at that moment and how long it has run.
// The warning is given again only after the backlog has drained to empty.
const HookBacklogWarn = 4096

// HookBacklogLimit bounds a node's hook backlog. Once that many events wait,
// new client, slow-consumer, authentication-failure, route-error and
// traffic events are dropped and counted (HookStats.Dropped), as
// nats-server drops messages for a slow consumer rather than hold them
// without limit; the first drop is logged at WARN, and how many were
// dropped when the backlog has drained. PeerJoined, PeerLeft and
// PeerRemoved are never dropped: there are only as many of them as
// membership changes. A queued event holds about 0.6 KiB (a 504-byte
// slot and the client's strings; BenchmarkBlockedHook measures it), so a
// full backlog holds 10 to 20 MiB: a few seconds of churn at thousands of
// clients per second behind a hook that blocks.
const HookBacklogLimit = 16384

// HookStats describes a node's hook dispatcher, which calls the hooks one
// at a time, in order, from a goroutine of its own, with the events that
// arrive meanwhile queued: see Node.HookStats.
type HookStats struct {
	// Backlog is how many events are waiting for their hook now, not
	// counting the one whose hook is running.
	Backlog int
	// MaxBacklog is the largest Backlog since the node started.
	MaxBacklog int
	// Oldest is how long the first waiting event has waited; 0 when the
	// backlog is empty.
	Oldest time.Duration
	// Running is the hook running now ("ClientConnected", ...), "" if
	// none; RunningFor is for how long it has run.
	Running    string
	RunningFor time.Duration
	// Delivered counts the events taken from the backlog to be handled
	// (their hook called), Dropped those dropped because the backlog had
	// reached HookBacklogLimit. Both count from the node's start.
	Delivered, Dropped uint64
	// Missed counts nats-server's client advisories lost before the node
	// could read them (more than 4096 unread: the node's own reader, not
	// a hook, fell behind), so client hooks were not called for them. It
	// is counted while the node runs (0 once it has stopped).
	Missed uint64
}

// HookStats returns what the node's hook dispatcher is doing: how many
// events wait for their hook, how long the oldest has waited, which hook
// is running, how many events were delivered and dropped, and how many
// client advisories were missed. A backlog that keeps growing means a hook
// is slower than the events it is called for (or blocked); the node warns
// at HookBacklogWarn and drops client, route-error and traffic events
// past HookBacklogLimit. It is safe to call at any time, from a hook too, and
// after the node stopped (Backlog is then 0).
func (n *Node) HookStats() HookStats {
	if n == nil || n.disp == nil {
		return HookStats{}
	}
	s := n.disp.stats()
	if w := n.clients; w != nil {
		for _, sub := range w.subs {
			if d, err := sub.Dropped(); err == nil && d > 0 {
				s.Missed += uint64(d)
			}
		}
	}
	return s
}

// dispatcher delivers events to the hooks from a goroutine of its own, one
// at a time and in order. Its queue never makes the poster wait, so the
// membership tracker (and with it the server) never waits on a slow hook;
// it is bounded by limit for droppable events (see HookBacklogLimit). It
// also keeps the view Peers reports: an event is applied to the view just
// before its hook runs, so Peers agrees with every hook while it runs.
type dispatcher struct {
	hooks options.Hooks
	log   *slog.Logger

	mu      sync.Mutex
	queue   []event
	wake    chan struct{}
	stopped bool
	done    chan struct{}

	warnAt, limit int       // HookBacklogWarn, HookBacklogLimit (tests lower them)
	running       eventKind // the event being handled, 0 if none
	runningSince  time.Time
	maxBacklog    int
	delivered     uint64
	dropped       uint64
	warned        bool   // warned of this episode's backlog (re-armed when it drains)
	dropWarned    bool   // warned of this episode's first drop
	episodeDrops  uint64 // dropped since the backlog last drained

	viewMu  sync.RWMutex
	view    map[string]Peer
	changed chan struct{} // closed and replaced on every view change
}

func newDispatcher(h options.Hooks, log *slog.Logger) *dispatcher {
	d := &dispatcher{
		hooks:   h,
		log:     log,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		warnAt:  HookBacklogWarn,
		limit:   HookBacklogLimit,
		view:    map[string]Peer{},
		changed: make(chan struct{}),
	}
	go d.run()
	return d
}

// post queues e for its hook. It never waits for a hook: past the limit a
// droppable event is dropped and counted instead.
func (d *dispatcher) post(e event) {
	e.at = time.Now()
	var warn, dropWarn bool
	var backlog int
	var running eventKind
	var runningFor time.Duration
	d.mu.Lock()
	switch {
	case d.stopped:
	case len(d.queue) >= d.limit && e.kind.droppable():
		d.dropped++
		d.episodeDrops++
		if !d.dropWarned {
			d.dropWarned, dropWarn = true, true
		}
	default:
		d.queue = append(d.queue, e)
		d.maxBacklog = max(d.maxBacklog, len(d.queue))
		if len(d.queue) >= d.warnAt && !d.warned {
			d.warned, warn = true, true
		}
	}
	if warn || dropWarn {
		backlog, running = len(d.queue), d.running
		if running != 0 {
			runningFor = e.at.Sub(d.runningSince)
		}
	}
	d.mu.Unlock()
	if warn {
		d.log.Warn("natsmesh: hooks are falling behind: events are queuing for them (see Node.HookStats)",
			"backlog", backlog, "running_hook", running.String(), "running_for", runningFor.Round(time.Millisecond))
	}
	if dropWarn {
		d.log.Warn("natsmesh: hook backlog full: dropping client, traffic and route-error events until it drains (see Node.HookStats)",
			"limit", d.limit, "running_hook", running.String(), "running_for", runningFor.Round(time.Millisecond))
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// stats returns the dispatcher's HookStats.
func (d *dispatcher) stats() HookStats {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	s := HookStats{
		Backlog: len(d.queue), MaxBacklog: d.maxBacklog,
		Delivered: d.delivered, Dropped: d.dropped,
	}
	if len(d.queue) > 0 {
		s.Oldest = now.Sub(d.queue[0].at)
	}
	if d.running != 0 {
		s.Running, s.RunningFor = d.running.String(), now.Sub(d.runningSince)
	}
	return s
}

// stop makes the dispatcher exit once the hook running now (if any)
// returns; queued events are dropped. It does not wait, so a hook may call
// Shutdown.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.stopped = true
	d.queue = nil
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		d.running = 0
		if d.stopped {
			d.mu.Unlock()
			return
		}
		if len(d.queue) == 0 {
			drained, drops := d.warned || d.dropWarned, d.episodeDrops
			d.warned, d.dropWarned, d.episodeDrops = false, false, 0
			// Let the array go: the slice may point into a large one,
			// which a drained backlog must not keep.
			d.queue = nil
			d.mu.Unlock()
			switch {
			case drops > 0:
				d.log.Warn("natsmesh: hook backlog drained; events were dropped", "dropped", drops)
			case drained:
				d.log.Info("natsmesh: hook backlog drained")
			}
			<-d.wake
			continue
		}
		e := d.queue[0]
		d.queue[0] = event{}
		d.queue = d.queue[1:]
		d.delivered++
		d.running, d.runningSince = e.kind, time.Now()
		d.mu.Unlock()
		d.apply(e)
		d.call(e)
	}
}

// apply updates the view Peers reports, for membership events.
func (d *dispatcher) apply(e event) {
	if e.kind != evJoined && e.kind != evLeft {
		return
	}
	d.viewMu.Lock()
	if e.kind == evJoined {
		d.view[e.peer.ID] = e.peer
	} else {
		delete(d.view, e.peer.ID)
	}
	close(d.changed)
	d.changed = make(chan struct{})
	d.viewMu.Unlock()
}

func (d *dispatcher) call(e event) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("natsmesh: hook panicked", "hook", e.kind.String(), "panic", r)
		}
	}()
	h := d.hooks
	switch {
	case e.kind == evJoined && h.PeerJoined != nil:
		h.PeerJoined(e.peer)
	case e.kind == evLeft && h.PeerLeft != nil:
		h.PeerLeft(e.peer, e.why)
	case e.kind == evClientConnected && h.ClientConnected != nil:
		h.ClientConnected(e.client)
	case e.kind == evClientDisconnected && h.ClientDisconnected != nil:
		h.ClientDisconnected(e.client)
	case e.kind == evSlowConsumer && h.SlowConsumer != nil:
		h.SlowConsumer(e.client)
	case e.kind == evAuthFailed && h.AuthFailed != nil:
		h.AuthFailed(e.client)
	case e.kind == evRouteError && h.RouteError != nil:
		h.RouteError(e.routeErr)
	case e.kind == evTraffic && h.Traffic != nil:
		h.Traffic(e.traffic)
	case e.kind == evCall:
		e.fn()
	}
}

// peers returns the view, sorted by name then ID, and a channel closed at
// the next change.
func (d *dispatcher) peers() ([]Peer, <-chan struct{}) {
	d.viewMu.RLock()
	defer d.viewMu.RUnlock()
	out := make([]Peer, 0, len(d.view))
	for _, p := range d.view {
		p.ClientURLs = append([]string(nil), p.ClientURLs...)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, d.changed
}
