package mesh

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// ConnectTimeout bounds Node.Connect: a connection whose handshake has
// not finished by then is closed and Connect fails. nats.go bounds the
// handshake by its own Timeout option too (2 s by default), but not every
// wait: a server in lame-duck mode accepts an in-process connection, sends
// its INFO and then never reads, and a write on a pipe has no buffer.
const ConnectTimeout = 5 * time.Second

var errConnectTimeout = fmt.Errorf("handshake not finished within %s (ConnectTimeout)", ConnectTimeout)

// Connect returns a nats.go connection to this node through an in-process
// pipe, no socket. opts are passed to nats.Connect after
// nats.InProcessServer. An in-process connection lives and dies with this
// node: a client that must fail over to peers should dial ClientURL.
//
// Connect returns within ConnectTimeout whatever races it (a Leave, a
// Shutdown, a server that stops reading): the connection being set up is
// closed then, and Connect fails. On a node that is stopping or stopped it
// returns ErrShutdown at once.
//
// When clients must log in (Options.Users or Token), the connection logs
// in to the global account with a login of the node's own, unless opts
// carry credentials (nats.UserInfo, nats.Token, ...), which are then used
// as given. It does not use TLS, whatever Options.ClientTLS says: nothing
// crosses a network.
func (n *Node) Connect(opts ...nats.Option) (*nats.Conn, error) {
	d, err := n.dials.start(n)
	if err != nil {
		return nil, err
	}
	defer n.dials.finish(d)
	if n.app.user != "" && !hasCredentials(opts) {
		opts = append(opts[:len(opts):len(opts)], nats.UserInfo(n.app.user, n.app.pass))
	}
	nc, err := d.connect(opts...)
	if err != nil {
		// err may be ErrShutdown, whose prefix the outer error carries.
		return nil, fmt.Errorf("natsmesh: connect in process to %s: %w", n.Name(), errprefix.Inner(err))
	}
	return nc, nil
}

// dials are the in-process connections Connect is setting up; stopping
// the node closes them, so no Connect waits on a node that is going away.
type dials struct {
	mu      sync.Mutex
	stopped bool
	active  map[*pipeDial]struct{}
}

// start registers a new dial, or returns ErrShutdown if the node is
// stopping.
func (ds *dials) start(n *Node) (*pipeDial, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.stopped || n.stopping() {
		return nil, ErrShutdown
	}
	d := &pipeDial{srv: n.srv}
	d.timer = time.AfterFunc(ConnectTimeout, func() { d.abort(errConnectTimeout) })
	if ds.active == nil {
		ds.active = map[*pipeDial]struct{}{}
	}
	ds.active[d] = struct{}{}
	return d, nil
}

// finish ends the handshake phase of d: later (re)connections of its
// nats.Conn are no longer tracked.
func (ds *dials) finish(d *pipeDial) {
	d.timer.Stop()
	d.mu.Lock()
	d.conns = nil
	d.mu.Unlock()
	ds.mu.Lock()
	delete(ds.active, d)
	ds.mu.Unlock()
}

// abortAll closes every connection being set up and refuses new ones.
func (ds *dials) abortAll() {
	ds.mu.Lock()
	ds.stopped = true
	active := ds.active
	ds.active = nil
	ds.mu.Unlock()
	for d := range active {
		d.abort(ErrShutdown)
	}
}

// pipeDial is the nats.InProcessConnProvider of one Connect: it hands
// nats.go the server's in-process pipes and can close them while the
// handshake is under way.
type pipeDial struct {
	srv   *server.Server
	timer *time.Timer

	mu      sync.Mutex
	aborted error      // why the handshake was cut short
	conns   []net.Conn // opened during the handshake
}

// InProcessConn opens a pipe to the server (nats.InProcessConnProvider).
func (d *pipeDial) InProcessConn() (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.aborted != nil {
		return nil, d.aborted
	}
	c, err := d.srv.InProcessConn()
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

// connect runs nats.Connect through d with opts. A handshake cut short
// (abort) fails with the reason, its connection closed, whatever nats.go
// made of it.
func (d *pipeDial) connect(opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect("", append([]nats.Option{nats.InProcessServer(d)}, opts...)...)
	if why := d.abortedBy(); why != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, why
	}
	return nc, err
}

func (d *pipeDial) abort(why error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.aborted == nil {
		d.aborted = why
	}
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
}

// abortedBy returns why the handshake was cut short, or nil.
func (d *pipeDial) abortedBy() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.aborted
}

// hasCredentials tells whether nats.go options carry a login.
func hasCredentials(opts []nats.Option) bool {
	o := nats.GetDefaultOptions()
	for _, opt := range opts {
		if opt != nil {
			_ = opt(&o)
		}
	}
	return o.User != "" || o.Password != "" || o.UserInfo != nil || o.Token != "" || o.TokenHandler != nil ||
		o.Nkey != "" || o.UserJWT != nil
}
