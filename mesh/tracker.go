package mesh

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Timings of the membership tracker. It reads the route table on cues
// only, and never polls while nothing happens: an async INFO (a peer's
// first route registered or its last one removed, when the cluster's
// client URLs change), a route log line (a route connection created or
// closed), a goodbye, a described peer. A route log line comes a moment
// before the change itself (a route is registered after its handshake,
// removed right after its close is logged) and, when peers share a client
// URL, no INFO follows: so after one the tracker re-checks the route
// counters every followFirst for followDense (nats-server registers a new
// route a fraction of a millisecond to a few milliseconds after logging
// it, and a join waits for the next check), then at doubling intervals up
// to followMax, for followWindow. The counters are two lengths read under
// a lock: checking 20 times in the dense part costs microseconds.
const (
	followFirst     = 250 * time.Microsecond
	followDense     = 5 * time.Millisecond
	followMax       = 100 * time.Millisecond
	followWindow    = 3 * time.Second
	describeTimeout = 5 * time.Second
	goodbyeSync     = time.Second
	goodbyeTTL      = time.Minute
	// farewellTimeout bounds how long a stopping node waits for its
	// natsmesh peers to confirm its goodbye.
	farewellTimeout = 500 * time.Millisecond
)

// tracker turns the server's route table into membership events: one join
// per peer however many pooled route connections it has, one leave when the
// last one is gone, with Left if the peer broadcast a goodbye first and Lost
// otherwise.
type tracker struct {
	srv  *server.Server
	sys  *sysConn
	disp *dispatcher
	log  *slog.Logger

	onJoin   func(Peer)              // called from the tracker goroutine for each join, if set
	onLeave  func(Peer, LeaveReason) // and for each leave
	cue      chan struct{}
	activity atomic.Int64                // UnixNano of the latest route log line
	parting  atomic.Pointer[chan string] // while farewell waits: peers that said goodbye or left
	done     chan struct{}

	ctx        context.Context // canceled by stop: the tracker's lifetime
	cancel     context.CancelFunc
	describing sync.WaitGroup

	// Owned by the run goroutine.
	known     map[string]Peer
	pending   map[string]bool // seen on a route, being described
	described chan described
	gmu       sync.Mutex           // guards goodbyes, which farewell reads
	goodbyes  map[string]time.Time // peer ID -> when it said goodbye
	lastSig   routeSig
}

func newTracker(srv *server.Server, sys *sysConn, disp *dispatcher, log *slog.Logger) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := sys.nc.ChanSubscribe(byeSubjects, sys.goodbyes); err != nil {
		// Peers then rely on nats-server's own goodbye alone.
		log.Warn("natsmesh: cannot hear peers' goodbyes", "subject", byeSubjects, "err", err)
	}
	return &tracker{
		ctx: ctx, cancel: cancel,
		srv: srv, sys: sys, disp: disp, log: log,
		cue:       make(chan struct{}, 1),
		done:      make(chan struct{}),
		known:     map[string]Peer{},
		pending:   map[string]bool{},
		described: make(chan described),
		goodbyes:  map[string]time.Time{},
	}
}

// kick asks for a re-read of the routes now.
func (t *tracker) kick() {
	select {
	case t.cue <- struct{}{}:
	default:
	}
}

// routeActivity asks for a re-read now and follow-up checks for a while:
// a route connection opened or closed and will be (un)registered within a
// round trip.
func (t *tracker) routeActivity() {
	t.activity.Store(time.Now().UnixNano())
	t.kick()
}

func (t *tracker) start() { go t.run() }

// stop ends the tracker and waits for it; no event is posted afterwards.
func (t *tracker) stop() {
	t.cancel()
	<-t.done
	t.describing.Wait()
}

func (t *tracker) run() {
	defer close(t.done)
	// Read the table once at the start: routes may have come up before
	// the tracker did.
	t.kick()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var follow <-chan time.Time // the timer's channel while following up
	var seen int64              // the route log line being followed up
	step := time.Duration(0)
	for {
		full := false
		select {
		case <-t.ctx.Done():
			return
		case <-t.cue:
			full = true
		case <-follow:
		case m := <-t.sys.goodbyes:
			t.recordGoodbye(m)
		case d := <-t.described:
			t.joined(d)
		}
		// Between full reads, a change in the number of remote servers
		// or route connections (cheap counters) is the cue to read.
		if sig := t.signature(); full || sig != t.lastSig {
			t.lastSig = sig
			t.reconcile()
		}
		if at := t.activity.Load(); at != seen {
			seen, step = at, followFirst
		}
		timer.Stop()
		follow = nil
		if since := time.Since(time.Unix(0, seen)); step > 0 && since < followWindow {
			timer.Reset(step)
			follow = timer.C
			if since >= followDense {
				step = min(2*step, followMax)
			}
		}
	}
}

// routeSig is a cheap summary of the route table.
type routeSig struct{ remotes, conns int }

func (t *tracker) signature() routeSig {
	return routeSig{remotes: t.srv.NumRemotes(), conns: t.srv.NumRoutes()}
}

// reconcile compares the route table with the known peers and posts the
// differences: leaves first (a restarted node's old self goes before its
// new self arrives), then joins.
func (t *tracker) reconcile() {
	if t.ctx.Err() != nil {
		return
	}
	if !t.srv.Running() {
		// Shut down from under the node (Server().Shutdown()): its routes
		// are gone because it is, not because its peers left.
		return
	}
	rz, err := t.srv.Routez(nil)
	if err != nil {
		return
	}
	self := t.srv.ID()
	present := map[string]*server.RouteInfo{}
	for _, r := range rz.Routes {
		if r.RemoteID == "" || r.RemoteID == self {
			continue
		}
		if _, ok := present[r.RemoteID]; !ok {
			present[r.RemoteID] = r
		}
	}

	var gone []Peer
	for id, p := range t.known {
		if present[id] == nil {
			gone = append(gone, p)
		}
	}
	if len(gone) > 0 {
		t.reportLeaves(gone)
	}

	// A peer gone before it could be described never joined.
	for id := range t.pending {
		if present[id] == nil {
			delete(t.pending, id)
		}
	}
	for id, r := range present {
		if _, ok := t.known[id]; !ok && !t.pending[id] {
			t.describe(r)
		}
	}

	t.gmu.Lock()
	for id, at := range t.goodbyes {
		if time.Since(at) > goodbyeTTL {
			delete(t.goodbyes, id)
		}
	}
	t.gmu.Unlock()
}

func (t *tracker) reportLeaves(gone []Peer) {
	sort.Slice(gone, func(i, j int) bool { return gone[i].JoinedAt.Before(gone[j].JoinedAt) })
	t.drainGoodbyes()
	if t.anyUnexplained(gone) {
		// A natsmesh peer's goodbye was confirmed before its routes
		// closed (farewell). A stock server's travels on a route
		// connection ahead of that connection's close, so it has
		// usually reached this server before the peer's last route was
		// removed (not if this server's write on the route failed
		// first). Flushing the system connection makes sure it has
		// also reached us.
		if err := t.sys.sync(goodbyeSync); err == nil {
			t.drainGoodbyes()
		} else {
			t.log.Warn("natsmesh: cannot confirm whether departed peers said goodbye", "err", err)
		}
	}
	for _, p := range gone {
		why := Lost
		t.gmu.Lock()
		if _, ok := t.goodbyes[p.ID]; ok {
			why = Left
			delete(t.goodbyes, p.ID)
		}
		t.gmu.Unlock()
		if why == Left {
			t.sys.forgetDescribed(p.ID)
		}
		delete(t.known, p.ID)
		t.parted(p.ID)
		t.disp.post(event{kind: evLeft, peer: p, why: why})
		if t.onLeave != nil {
			t.onLeave(p, why)
		}
	}
}

func (t *tracker) anyUnexplained(gone []Peer) bool {
	t.gmu.Lock()
	defer t.gmu.Unlock()
	for _, p := range gone {
		if _, ok := t.goodbyes[p.ID]; !ok {
			return true
		}
	}
	return false
}

// describe starts finding a new peer's addresses. The join is reported
// when they are known (joined), so PeerJoined always carries them. The
// peer's responder is known here once its subscriptions have crossed the
// route: with natsmesh's single route per peer, a moment after the route
// comes up; with a pooled peer, once its dedicated system-account route is
// up, which after a network cut heals can be a route-reconnect delay later.
// The tracker goes on meanwhile.
func (t *tracker) describe(r *server.RouteInfo) {
	t.pending[r.RemoteID] = true
	p := Peer{Name: r.RemoteName, ID: r.RemoteID, JoinedAt: time.Now()}
	t.describing.Add(1)
	go func() {
		defer t.describing.Done()
		ctx, cancel := context.WithTimeout(t.ctx, describeTimeout)
		defer cancel()
		cu, urls, err := t.sys.describe(ctx, r.RemoteID, r.IP)
		if t.ctx.Err() != nil {
			return // the node is shutting down
		}
		p.ClusterURL, p.ClientURLs = cu, urls
		select {
		case t.described <- described{p, err}:
		case <-t.ctx.Done():
		}
	}()
}

// described is a peer, described, or not (err).
type described struct {
	p   Peer
	err error
}

// joined reports a described peer, unless it left while being described
// (then a failure to describe it is no news either).
func (t *tracker) joined(d described) {
	p := d.p
	if !t.pending[p.ID] {
		return
	}
	if d.err != nil {
		t.log.Warn("natsmesh: peer joined, but its addresses are unknown", "peer", p.Name, "err", d.err)
	}
	delete(t.pending, p.ID)
	t.known[p.ID] = p
	t.disp.post(event{kind: evJoined, peer: p})
	if t.onJoin != nil {
		t.onJoin(p)
	}
}

// kickTracker is the watch's cue to re-read the routes (see tracker.kick).
func (n *Node) kickTracker() {
	if t := n.tracker.Load(); t != nil {
		t.kick()
	}
}

// routeActivity is the log cue that a route connection opened or closed.
func (n *Node) routeActivity() {
	if t := n.tracker.Load(); t != nil {
		t.routeActivity()
	}
}
