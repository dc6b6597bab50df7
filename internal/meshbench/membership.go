package meshbench

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// Membership measures how soon a node's membership hooks follow its route
// state. A long-lived node with PeerJoined and PeerLeft hooks sees a new
// peer join and leave at every Cycle.
//
// Raw nats-server has no equivalent: it has no hooks, and an application
// that embeds it by hand learns of peers only by polling Routez (as fast as
// it polls) or by subscribing to system-account events it must set up
// itself. So there is no raw figure to compare with; the target is an
// absolute one.
type Membership struct {
	node   *mesh.Node
	joined chan hookEvent
	left   chan hookEvent
	ready  atomic.Bool
	cycles int
}

// hookEvent is one PeerJoined or PeerLeft call.
type hookEvent struct {
	id  string
	at  time.Time     // when the hook was entered
	lag time.Duration // PeerJoined only: at minus the route's creation
	err error
}

// NewMembership starts the long-lived node.
func NewMembership() (*Membership, error) {
	m := &Membership{joined: make(chan hookEvent, 64), left: make(chan hookEvent, 64)}
	var node *mesh.Node
	node, err := mesh.Start(options.Options{
		Name: "watcher",
		Hooks: options.Hooks{
			PeerJoined: func(p mesh.Peer) {
				at := time.Now()
				if !m.ready.Load() {
					return
				}
				ev := hookEvent{id: p.ID, at: at}
				ev.lag, ev.err = sinceRouteStart(node.Server(), p.ID, at)
				send(m.joined, ev)
			},
			PeerLeft: func(p mesh.Peer, _ mesh.LeaveReason) {
				send(m.left, hookEvent{id: p.ID, at: time.Now()})
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("meshbench: watcher node: %w", err)
	}
	m.node = node
	m.ready.Store(true)
	return m, nil
}

// Cycle starts a node seeded with the long-lived node's route URL, waits
// for the long-lived node's PeerJoined, shuts the new node down and waits
// for PeerLeft. It returns:
//
//   - join: when PeerJoined was entered, minus the creation time
//     (RouteInfo.Start) of the earliest of the long-lived node's routes to
//     the new peer. The route is created before the route handshake, so
//     this is "route connection accepted → hook running", handshake and the
//     library's request for the peer's addresses included.
//   - leave: when PeerLeft was entered, minus the moment just before
//     Shutdown was called on the peer.
func (m *Membership) Cycle() (join, leave time.Duration, err error) {
	m.cycles++
	other, err := mesh.Start(options.Options{
		Name: fmt.Sprintf("joiner-%d", m.cycles),
		Seed: m.node.ClusterURL(),
	})
	if err != nil {
		return 0, 0, fmt.Errorf("meshbench: joining node: %w", err)
	}
	ev, err := awaitHook(m.joined, other.ID(), "PeerJoined")
	if err == nil {
		err = ev.err
	}
	if err != nil {
		other.Shutdown()
		return 0, 0, err
	}
	join = ev.lag
	shutdownAt := time.Now()
	other.Shutdown()
	ev, err = awaitHook(m.left, other.ID(), "PeerLeft")
	if err != nil {
		return 0, 0, err
	}
	return join, ev.at.Sub(shutdownAt), nil
}

// Close shuts the long-lived node down.
func (m *Membership) Close() { m.node.Shutdown() }

// send passes ev on unless nobody has read the last 64 events (a Cycle
// that failed): the hook must not block the node's dispatcher for good.
func send(ch chan<- hookEvent, ev hookEvent) {
	select {
	case ch <- ev:
	default:
	}
}

// sinceRouteStart returns at minus the creation time of srv's earliest
// route to the server with the given ID.
func sinceRouteStart(srv *server.Server, id string, at time.Time) (time.Duration, error) {
	rz, err := srv.Routez(nil)
	if err != nil {
		return 0, fmt.Errorf("meshbench: Routez: %w", err)
	}
	var first time.Time
	for _, r := range rz.Routes {
		if r.RemoteID == id && (first.IsZero() || r.Start.Before(first)) {
			first = r.Start
		}
	}
	if first.IsZero() {
		return 0, fmt.Errorf("meshbench: PeerJoined(%s) ran with no route to it in Routez", id)
	}
	return at.Sub(first), nil
}

// awaitHook returns the first event on ch about the peer id, or an error
// if none arrives within Wait. Events about other peers are skipped.
func awaitHook(ch <-chan hookEvent, id, hook string) (hookEvent, error) {
	timeout := time.After(Wait)
	for {
		select {
		case ev := <-ch:
			if ev.id == id {
				return ev, nil
			}
		case <-timeout:
			return hookEvent{}, fmt.Errorf("meshbench: %s(%s) not called within %s", hook, id, Wait)
		}
	}
}
