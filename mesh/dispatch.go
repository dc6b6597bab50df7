package mesh

import (
	"log/slog"
	"sort"
	"sync"

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
}

// dispatcher delivers events to the hooks from a goroutine of its own, one
// at a time and in order. Its queue is unbounded, so the membership tracker
// (and with it the server) never waits on a slow hook. It also keeps the
// view Peers reports: an event is applied to the view just before its hook
// runs, so Peers agrees with every hook while it runs.
type dispatcher struct {
	hooks options.Hooks
	log   *slog.Logger

	mu      sync.Mutex
	queue   []event
	wake    chan struct{}
	stopped bool
	done    chan struct{}

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
		view:    map[string]Peer{},
		changed: make(chan struct{}),
	}
	go d.run()
	return d
}

func (d *dispatcher) post(e event) {
	d.mu.Lock()
	if !d.stopped {
		d.queue = append(d.queue, e)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
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
		if d.stopped {
			d.mu.Unlock()
			return
		}
		if len(d.queue) == 0 {
			d.mu.Unlock()
			<-d.wake
			continue
		}
		e := d.queue[0]
		d.queue[0] = event{}
		d.queue = d.queue[1:]
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
