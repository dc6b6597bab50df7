package mesh

import (
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Timings of the membership tracker. Cues (async INFO, route log lines)
// make it event driven; the poll is a safety net for changes that send no
// cue, such as two peers advertising the same client URL.
const (
	pollInterval    = 100 * time.Millisecond
	fastPoll        = time.Millisecond
	fastWindow      = 100 * time.Millisecond // after a route was created or closed
	describeTimeout = 500 * time.Millisecond
	goodbyeSync     = time.Second
	goodbyeTTL      = time.Minute
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

	onJoin    func(Peer) // called from the tracker goroutine for each join, if set
	cue       chan struct{}
	fastUntil atomic.Int64
	stopCh    chan struct{}
	done      chan struct{}

	// Owned by the run goroutine.
	known    map[string]Peer
	goodbyes map[string]time.Time
	lastSig  routeSig
}

func newTracker(srv *server.Server, sys *sysConn, disp *dispatcher, log *slog.Logger) *tracker {
	return &tracker{
		srv: srv, sys: sys, disp: disp, log: log,
		cue:      make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		done:     make(chan struct{}),
		known:    map[string]Peer{},
		goodbyes: map[string]time.Time{},
	}
}

// kick asks for a re-read of the routes now.
func (t *tracker) kick() {
	select {
	case t.cue <- struct{}{}:
	default:
	}
}

// routeActivity asks for a re-read now and frequent re-reads for a short
// while: a route connection opened or closed and will be (un)registered
// within a round trip.
func (t *tracker) routeActivity() {
	t.fastUntil.Store(time.Now().Add(fastWindow).UnixNano())
	t.kick()
}

func (t *tracker) start() { go t.run() }

// stop ends the tracker and waits for it; no event is posted afterwards.
func (t *tracker) stop() {
	select {
	case <-t.stopCh:
	default:
		close(t.stopCh)
	}
	<-t.done
}

func (t *tracker) run() {
	defer close(t.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastFull time.Time
	for {
		full := false
		select {
		case <-t.stopCh:
			return
		case <-t.cue:
			full = true
		case <-timer.C:
			full = time.Since(lastFull) >= pollInterval
		case m := <-t.sys.goodbyes:
			t.recordGoodbye(m)
		}
		// Between full reads, a change in the number of remote servers
		// or route connections (cheap counters) is the cue to read.
		if sig := t.signature(); full || sig != t.lastSig {
			t.lastSig = sig
			t.reconcile()
			lastFull = time.Now()
		}
		next := pollInterval
		if time.Now().UnixNano() < t.fastUntil.Load() {
			next = fastPoll
		}
		timer.Reset(next)
	}
}

// routeSig is a cheap summary of the route table.
type routeSig struct{ remotes, conns int }

func (t *tracker) signature() routeSig {
	return routeSig{remotes: t.srv.NumRemotes(), conns: t.srv.NumRoutes()}
}

func (t *tracker) recordGoodbye(m *nats.Msg) {
	if id := goodbyeID(m.Subject); id != "" && id != t.srv.ID() {
		t.goodbyes[id] = time.Now()
	}
}

// drainGoodbyes records every goodbye already delivered.
func (t *tracker) drainGoodbyes() {
	for {
		select {
		case m := <-t.sys.goodbyes:
			t.recordGoodbye(m)
		default:
			return
		}
	}
}

// reconcile compares the route table with the known peers and posts the
// differences: leaves first (a restarted node's old self goes before its
// new self arrives), then joins.
func (t *tracker) reconcile() {
	select {
	case <-t.stopCh:
		return
	default:
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

	var fresh []*server.RouteInfo
	for id, r := range present {
		if _, ok := t.known[id]; !ok {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) > 0 {
		t.reportJoins(fresh)
	}

	for id, at := range t.goodbyes {
		if time.Since(at) > goodbyeTTL {
			delete(t.goodbyes, id)
		}
	}
}

func (t *tracker) reportLeaves(gone []Peer) {
	sort.Slice(gone, func(i, j int) bool { return gone[i].JoinedAt.Before(gone[j].JoinedAt) })
	t.drainGoodbyes()
	if t.anyUnexplained(gone) {
		// A goodbye travels on a route connection ahead of that
		// connection's close, so it has reached this server before the
		// peer's last route was removed. Flushing the system connection
		// makes sure it has also reached us.
		if err := t.sys.sync(goodbyeSync); err == nil {
			t.drainGoodbyes()
		}
	}
	for _, p := range gone {
		why := Lost
		if _, ok := t.goodbyes[p.ID]; ok {
			why = Left
			delete(t.goodbyes, p.ID)
		}
		delete(t.known, p.ID)
		t.disp.post(event{kind: evLeft, peer: p, why: why})
	}
}

func (t *tracker) anyUnexplained(gone []Peer) bool {
	for _, p := range gone {
		if _, ok := t.goodbyes[p.ID]; !ok {
			return true
		}
	}
	return false
}

func (t *tracker) reportJoins(fresh []*server.RouteInfo) {
	now := time.Now()
	peers := make([]Peer, len(fresh))
	var wg sync.WaitGroup
	deadline := now.Add(describeTimeout)
	for i, r := range fresh {
		peers[i] = Peer{Name: r.RemoteName, ID: r.RemoteID, JoinedAt: now}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cu, urls, err := t.sys.describe(r.RemoteID, r.IP, deadline)
			if err != nil {
				t.log.Debug("natsmesh: peer addresses unknown", "peer", r.RemoteName, "err", err)
				return
			}
			peers[i].ClusterURL, peers[i].ClientURLs = cu, urls
		}()
	}
	wg.Wait()
	sort.Slice(peers, func(i, j int) bool { return peers[i].Name < peers[j].Name })
	for _, p := range peers {
		t.known[p.ID] = p
		t.disp.post(event{kind: evJoined, peer: p})
		if t.onJoin != nil {
			t.onJoin(p)
		}
	}
}
