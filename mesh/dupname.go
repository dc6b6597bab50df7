package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A node whose name another node of the mesh already has is refused:
// whichever of the two accepts the other's route closes it (nats-server
// logs "Remote server has a duplicate name" there), and the one that
// dialled logs the route closed with "Remote: <its own name>". Each of
// those lines is evidence, on either node, that another node has its
// name: the log hands it to noteClash. While the evidence is fresh (routes
// are redialled every second or faster, so a clash that lasts keeps it
// fresh), WaitForPeers fails with an error matching ErrDuplicateName
// instead of waiting in vain. A node restarted under its name meets no
// such refusal once its old self is gone, so it is not mistaken for a
// clash.

// clashTTL is how long a piece of evidence of a clash counts.
const clashTTL = 10 * time.Second

// clashAskTimeout bounds asking the peers who has this node's name.
const clashAskTimeout = time.Second

// namesSubject is where a natsmesh node answers, in the system account,
// with its current peers' names, IDs and route URLs.
func namesSubject(id string) string { return "$SYS.NATSMESH." + id + ".PEERS" }

// namedPeer is one entry of a namesSubject reply.
type namedPeer struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	ClusterURL string `json:"cluster_url"`
}

// clash is the latest evidence that another node has this node's name.
type clash struct {
	remote  string // ip:port of the other end of the refused route
	dialled bool   // this node dialled it (remote is its route address)
	at      time.Time
}

// dupState records evidence of name clashes.
type dupState struct {
	mu     sync.Mutex
	latest clash
	wake   chan struct{} // closed and replaced at each new evidence
}

// noteClash records evidence of a clash; the log calls it, from
// nats-server's goroutines, so it does not block.
func (n *Node) noteClash(remote string, dialled bool) {
	n.dup.mu.Lock()
	n.dup.latest = clash{remote: remote, dialled: dialled, at: time.Now()}
	if n.dup.wake != nil {
		close(n.dup.wake)
		n.dup.wake = nil
	}
	n.dup.mu.Unlock()
}

// currentClash returns the latest evidence if it is fresh, and a channel
// closed at the next.
func (n *Node) currentClash() (clash, bool, <-chan struct{}) {
	n.dup.mu.Lock()
	defer n.dup.mu.Unlock()
	if n.dup.wake == nil {
		n.dup.wake = make(chan struct{})
	}
	c := n.dup.latest
	return c, !c.at.IsZero() && time.Since(c.at) < clashTTL, n.dup.wake
}

// clashError describes a clash: the name, this node, and the other node,
// by the address of the refused route and, if a peer knows a node with
// this name, by its ID and route URL.
func (n *Node) clashError(ctx context.Context, c clash) error {
	other := "the node at " + c.remote + " (this node dialled its route)"
	if !c.dialled {
		other = "a node at " + c.remote + " (it dialled this node's route)"
	}
	// Seen from the accepting side, the address is the other node's
	// outgoing one: worth waiting a moment for a peer that knows more.
	if p, ok := n.peerNamed(ctx, n.Name(), !c.dialled); ok {
		other += fmt.Sprintf("; peers know node %q as id %s at %s", p.Name, p.ID, p.ClusterURL)
	}
	return fmt.Errorf("%w: node %q (id %s) cannot join: %s has the same name; names must be unique in a mesh",
		ErrDuplicateName, n.Name(), n.ID(), other)
}

// peerNamed asks this node's peers for a node called name other than this
// node; if wait, it asks again (as peers join) until one knows, bounded by
// clashAskTimeout.
func (n *Node) peerNamed(ctx context.Context, name string, wait bool) (namedPeer, bool) {
	ctx, cancel := context.WithTimeout(ctx, clashAskTimeout)
	defer cancel()
	for {
		if p, ok := n.askPeersFor(ctx, name); ok || !wait {
			return p, ok
		}
		select {
		case <-ctx.Done():
			return namedPeer{}, false
		case <-n.closed:
			return namedPeer{}, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// askPeersFor asks each current peer once for a node called name.
func (n *Node) askPeersFor(ctx context.Context, name string) (namedPeer, bool) {
	peers, _ := n.disp.peers()
	for _, p := range peers {
		if n.sys.acc.Interest(namesSubject(p.ID)) == 0 {
			continue // a stock nats-server
		}
		msg, err := n.sys.nc.RequestWithContext(ctx, namesSubject(p.ID), nil)
		if err != nil {
			continue
		}
		var list []namedPeer
		if json.Unmarshal(msg.Data, &list) != nil {
			continue
		}
		for _, q := range list {
			if q.Name == name && q.ID != n.ID() {
				return q, true
			}
		}
	}
	return namedPeer{}, false
}

// serveNames answers namesSubject requests with the node's view.
func (n *Node) serveNames(sys *sysConn) error {
	sub, err := sys.nc.Subscribe(namesSubject(n.ID()), func(m *nats.Msg) {
		peers, _ := n.disp.peers()
		out := make([]namedPeer, len(peers))
		for i, p := range peers {
			out[i] = namedPeer{Name: p.Name, ID: p.ID, ClusterURL: p.ClusterURL}
		}
		reply, _ := json.Marshal(out)
		_ = m.Respond(reply)
	})
	if err != nil {
		return fmt.Errorf("natsmesh: subscribe %s: %w", namesSubject(n.ID()), err)
	}
	sys.subs = append(sys.subs, sub)
	return nil
}

// duplicateName logs and reports a route refused because the node at its
// other end has this node's name. Like every refusal, it is reported once
// a minute per remote host (the other node redials every second or
// faster), with the number of refusals since.
func (l *serverLog) duplicateName(format string, v []any) {
	report, quiet := l.routeProblem(format, v, false)
	remote, _, _ := strings.Cut(fmt.Sprintf(format, v...), cueRouteTag)
	if l.onClash != nil {
		l.onClash(remote, false)
	}
	if !report {
		return
	}
	l.log.Error("natsmesh: refused a route from a node with this node's name (duplicate name): node names must be unique in a mesh",
		"remote", remote, "refused_since_last_report", quiet)
}
