package mesh

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// Node is one running mesh node. Its methods are safe for concurrent use.
type Node struct {
	opts  config
	creds login          // the internal connections' login to the system account
	app   login          // Connect's login to the global account, when clients must log in (else zero)
	sec   *routeSecurity // nil: plain routes
	srv   *server.Server
	log   *serverLog

	sys     *sysConn
	watch   *infoWatch
	disp    *dispatcher
	clients *clientWatch // nil unless a client hook is set
	sampler *sampler     // nil unless traffic samples are on
	joiner  *joiner
	tracker atomic.Pointer[tracker]
	// rtDone is closed once startRuntime has returned: the runtime fields
	// above (sys, watch, clients, sampler, guard) are then set, all of
	// them or, if it failed, none.
	rtDone chan struct{}

	stopOnce  sync.Once
	leaveOnce sync.Once
	leaveErr  error
	leaveDone chan struct{}
	closed    chan struct{}

	js *jetStreamState

	done    chan struct{} // closed when the node has stopped (Done)
	endOnce sync.Once
	err     error    // why it stopped (Err), set before done is closed
	urls    nodeURLs // set once listening, kept after the node stops
	dials   dials    // in-process connections being set up by Connect

	dup   dupState // evidence of another node with this node's name
	guard *lifeguard
}

// Name returns the node's name, unique in its mesh.
func (n *Node) Name() string { return n.srv.Name() }

// ID returns the node's server ID, new at every start.
func (n *Node) ID() string { return n.srv.ID() }

// ClientURL returns the URL clients connect to, "nats://host:port": the
// advertised address if Options.ClientAdvertise is set, else the listen
// address (loopback for a wildcard bind).
func (n *Node) ClientURL() string {
	return n.urls.client
}

// ClusterURL returns the route URL other nodes use as their Seed: the
// advertised address if Options.ClusterAdvertise is set, else the route
// listen address (loopback for a wildcard bind).
func (n *Node) ClusterURL() string {
	return n.urls.cluster
}

// MonitorURL returns the base URL of the HTTP monitoring endpoint
// ("http://host:port", serving /varz, /routez, /connz, /healthz ...), or ""
// if Options.Monitor is off.
func (n *Node) MonitorURL() string {
	return n.urls.monitor
}

// Peers returns this node's current view of the other nodes, sorted by
// name. The view moves with the membership hooks: while a hook runs, Peers
// already includes the peer it reports joining and no longer includes the
// one it reports leaving.
//
// Once the node is stopping or stopped, for any reason, it returns nil.
func (n *Node) Peers() []Peer {
	if n.stopping() {
		return nil
	}
	p, _ := n.disp.peers()
	return p
}

// WaitForPeers returns nil once this node sees at least count peers, or
// ctx's error, or ErrShutdown if the node is stopping or stopped (for any
// reason; see Done), or an error matching ErrDuplicateName if a node with
// this node's name is in the mesh it tries to join. ctx's error comes with
// the last route error the node saw, if any (a peer that refused this
// node's certificate, another cluster name ...).
func (n *Node) WaitForPeers(ctx context.Context, count int) error {
	for {
		if n.stopping() {
			return ErrShutdown
		}
		peers, changed := n.disp.peers()
		if len(peers) >= count {
			return nil
		}
		c, clashing, clashWake := n.currentClash()
		if clashing {
			return n.clashError(ctx, c)
		}
		select {
		case <-changed:
		case <-clashWake:
		case <-n.closed:
			return ErrShutdown
		case <-n.done:
			return ErrShutdown
		case <-ctx.Done():
			why := ""
			if e := n.log.lastRouteError(); e != nil {
				why = fmt.Sprintf(" (last route error, from %s: %s)", e.Remote, e.Message)
			}
			return fmt.Errorf("natsmesh: node %s has %d of %d peers%s: %w", n.Name(), len(peers), count, why, ctx.Err())
		}
	}
}

// Server returns the embedded nats-server, for what this package does not
// cover (monitoring structs, account setup). Shutting it down directly
// skips the node's own cleanup: use Shutdown.
func (n *Node) Server() *server.Server { return n.srv }

// WaitForInterest returns once this node knows of at least one subscriber
// (its own client's or a peer's) whose subscription matches subject in the
// global account, or ctx's error. subject is one you will publish on: a
// literal subject, no wildcards (a subscription "orders.>" matches
// "orders.created"). Interest crosses routes asynchronously: a client that
// subscribes on one node and flushes can still miss a message published on
// another node an instant later. Wait for interest first.
func (n *Node) WaitForInterest(ctx context.Context, subject string) error {
	if !server.IsValidLiteralSubject(subject) {
		return fmt.Errorf("natsmesh: WaitForInterest(%q): want a literal subject to publish on, without wildcards: %w", subject, errprefix.Inner(ErrSubject))
	}
	wait := 50 * time.Microsecond
	for {
		if n.stopping() {
			return ErrShutdown
		}
		if n.srv.GlobalAccount().Interest(subject) > 0 {
			return nil
		}
		select {
		case <-n.closed:
			return ErrShutdown
		case <-n.done:
			return ErrShutdown
		case <-ctx.Done():
			return fmt.Errorf("natsmesh: node %s knows no subscriber of %q: %w", n.Name(), subject, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Millisecond)
	}
}
