package mesh

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// lostReaper removes from the JetStream meta group the peers that have
// been Lost (gone without a goodbye) for Options.RemoveLostAfter without
// coming back, as serf reaps failed members: a node that crashed for good
// stops counting toward quorum. Only the meta leader's reaper acts, so a
// peer is removed once; if the leader is the peer that was lost, the next
// leader's reaper does it.
type lostReaper struct {
	n     *Node
	after time.Duration

	mu   sync.Mutex
	lost map[string]lostPeer // by name: a restarted node keeps its raft ID

	stopCh chan struct{}
	done   chan struct{}
	once   sync.Once
}

type lostPeer struct {
	peer Peer
	at   time.Time
}

// startReaper starts the node's reaper if Options.RemoveLostAfter is set.
func (n *Node) startReaper() {
	if n.opts.RemoveLostAfter <= 0 {
		return
	}
	r := &lostReaper{
		n: n, after: n.opts.RemoveLostAfter,
		lost:   map[string]lostPeer{},
		stopCh: make(chan struct{}), done: make(chan struct{}),
	}
	n.js.mu.Lock()
	n.js.reaper = r
	n.js.mu.Unlock()
	go r.run()
}

// peerJoined and peerLeft are the tracker's news, from its goroutine.
func (js *jetStreamState) peerJoined(p Peer) {
	if r := js.getReaper(); r != nil {
		r.mu.Lock()
		delete(r.lost, p.Name)
		r.mu.Unlock()
	}
}

func (js *jetStreamState) peerLeft(p Peer, why LeaveReason) {
	r := js.getReaper()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if why != Lost {
		// A goodbye is a temporary departure (a rolling restart).
		delete(r.lost, p.Name)
		return
	}
	if _, ok := r.lost[p.Name]; !ok {
		r.lost[p.Name] = lostPeer{peer: p, at: time.Now()}
	}
}

func (js *jetStreamState) getReaper() *lostReaper {
	if js == nil {
		return nil
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.reaper
}

func (r *lostReaper) stop() {
	r.once.Do(func() { close(r.stopCh) })
	<-r.done
}

func (r *lostReaper) run() {
	defer close(r.done)
	tick := time.NewTicker(min(max(r.after/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-r.stopCh:
			return
		case <-tick.C:
		}
		if !r.n.srv.JetStreamIsLeader() {
			continue
		}
		r.mu.Lock()
		var due []lostPeer
		for _, lp := range r.lost {
			if time.Since(lp.at) >= r.after {
				due = append(due, lp)
			}
		}
		r.mu.Unlock()
		for _, lp := range due {
			r.remove(lp)
		}
	}
}

// remove takes a lost peer out of the meta group, unless it came back in
// the meantime.
func (r *lostReaper) remove(lp lostPeer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-r.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, _ := json.Marshal(server.JSApiMetaServerRemoveRequest{Server: lp.peer.Name})
	err := r.n.jsAPIOnce(ctx, jsRemoveSubject, req)
	if apiErr, ok := err.(*server.ApiError); ok && apiErr.ErrCode == jsErrNotMember {
		// Not (or no longer) a member: nothing to do.
		r.forget(lp)
		return
	}
	if err != nil {
		select {
		case <-r.stopCh: // the node is stopping: not worth a warning
			return
		default:
		}
		r.n.log.log.Warn("natsmesh: cannot remove a lost peer from the JetStream meta group; will retry",
			"peer", lp.peer.Name, "lost_for", time.Since(lp.at).Round(time.Millisecond), "err", err)
		return
	}
	lostFor := time.Since(lp.at)
	r.forget(lp)
	r.n.log.log.Warn("natsmesh: removed a lost peer from the JetStream meta group (Options.RemoveLostAfter)",
		"peer", lp.peer.Name, "lost_for", lostFor.Round(time.Millisecond))
	if h := r.n.opts.Hooks.PeerRemoved; h != nil {
		p := lp.peer
		r.n.disp.post(event{kind: evCall, fn: func() { h(p, lostFor) }})
	}
}

// forget drops lp, unless the peer was lost again since (a newer entry).
func (r *lostReaper) forget(lp lostPeer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.lost[lp.peer.Name]; ok && cur.at.Equal(lp.at) {
		delete(r.lost, lp.peer.Name)
	}
}
