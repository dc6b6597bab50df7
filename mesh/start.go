package mesh

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/internal/errprefix"
	"github.com/natsmesh/natsmesh/internal/routetls"
	"github.com/natsmesh/natsmesh/options"
)

// Start starts a node and returns once it accepts client and route
// connections (and monitoring ones, if Options.Monitor is set). It does not
// wait for the mesh: the seed may not be up yet; use WaitForPeers for that.
// The node's own in-process connections and its membership tracking come
// up alongside the caller's next steps, within a millisecond or so; with
// a client hook (ClientConnected, ClientDisconnected, SlowConsumer,
// AuthFailed) or JetStream, Start returns only once they are up, so that
// no client that connects after Start returns goes unreported.
//
// Bad options are refused with an error that matches options.ErrInvalid
// and names the field and its value. On any error nothing is left running.
func Start(o options.Options) (*Node, error) {
	n, err := newConfig(o)
	if err != nil {
		return nil, err
	}
	// With JetStream the server touches its store before it listens, so
	// the listeners are checked first; otherwise only when the server
	// fails to listen, to say which option was at fault.
	if n.JetStream {
		if err := checkListeners(n); err != nil {
			return nil, err
		}
	}

	creds := newLogin(internalConnName)
	var app login
	if clientsMustLogIn(n) {
		app = newLogin(appLoginName)
	}
	sec, err := newRouteSecurity(n)
	if err != nil {
		return nil, err
	}
	js, err := prepareJetStream(&n, len(n.Seeds))
	if err != nil {
		return nil, err
	}
	node := &Node{opts: n, creds: creds, app: app, sec: sec, closed: make(chan struct{}), js: js}
	node.done = make(chan struct{})
	sl := newServerLog(n.Logger, n.Name, node.routeActivity)
	sl.redact = newRedactor(n, creds.pass, app.pass)
	sl.appPlaintext = appPlaintext(n)
	node.log = sl
	sl.onClash = node.noteClash
	node.joiner = newJoiner(node)
	seeds := node.joiner.seeds()
	sopts := serverOptions(n, seeds, creds, app, sec)
	node.joiner.sopts = sopts
	srv, err := server.NewServer(sopts)
	if err != nil {
		js.stop(sl.log)
		return nil, fmt.Errorf("%w: %w", ErrServer, err)
	}
	if lf, ok := sopts.CustomClientAuthentication.(*loginsFirst); ok {
		lf.srv.Store(srv)
	}
	// The route certificate names the server's ID, known from here on;
	// it is minted while the server starts, and the certificate callbacks
	// wait for it. The authorities it is checked against are needed as
	// soon as a route can be dialled or accepted.
	sec.mint(n, srv.ID())
	if err := sec.waitDerived(); err != nil {
		_ = sec.waitMinted()
		js.stop(sl.log)
		return nil, err
	}
	// The dispatcher exists before the server starts: route errors can be
	// logged from the first moment.
	node.disp = newDispatcher(n.Hooks, sl.log)
	if n.Hooks.RouteError != nil {
		sl.onRouteError = func(e RouteError) { node.disp.post(event{kind: evRouteError, routeErr: e}) }
	}
	srv.SetLoggerV2(sl, sl.enabled(slog.LevelDebug), sl.enabled(levelTrace), false)
	node.srv = srv

	srv.Start() // returns once the client listener is up (or failed)
	if err := node.waitListening(); err != nil {
		node.abort()
		if ferr := checkListeners(n); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	// From here a fatal error is no longer part of Start's (see Fatalf).
	sl.starting.Store(false)
	if err := sec.waitMinted(); err != nil {
		node.abort()
		return nil, err
	}
	node.recordURLs()
	node.rtDone = make(chan struct{})
	if !node.runtimeBeforeStart() {
		// The node's internal connections and membership tracker come up
		// alongside the caller's first steps: nothing the caller can do
		// right after Start depends on them (Peers and WaitForPeers wait
		// for the dispatcher, which exists), and peers that ask this node
		// to describe itself wait for its responder.
		go node.runRuntime()
		node.watchServer()
		return node, nil
	}
	err = node.startRuntime()
	close(node.rtDone)
	if err != nil {
		node.abort()
		return nil, err
	}
	node.watchServer()
	return node, nil
}

// runtimeBeforeStart tells whether Start must return only once the runtime
// is up: client hooks must see the clients that connect right after Start,
// and JetStream must be on for the clients' account by then.
func (n *Node) runtimeBeforeStart() bool {
	h := n.opts.Hooks
	return needsClientEvents(h) || h.AuthFailed != nil || n.js.on
}

// runRuntime starts the runtime after Start has returned. Should that fail
// (the in-process connections of a server that is running do not), the
// node stops as after a fatal server error, with the reason in Err.
func (n *Node) runRuntime() {
	err := n.startRuntime()
	close(n.rtDone)
	if err != nil && !n.stopping() {
		n.log.Fatalf("natsmesh: cannot start the node's runtime: %v", errprefix.Inner(err))
	}
}

// checkListeners checks every listener the node opens (see listenCheck).
func checkListeners(n config) error {
	listeners := []listenCheck{{"Host", "Port", n.Host, n.Port}, {"ClusterHost", "ClusterPort", n.ClusterHost, n.ClusterPort}}
	if n.Monitor {
		listeners = append(listeners, listenCheck{"MonitorHost", "MonitorPort", n.MonitorHost, n.MonitorPort})
	}
	for _, l := range listeners {
		if err := l.check(); err != nil {
			return err
		}
	}
	return nil
}

// abort undoes a Start that failed after the server was created.
func (n *Node) abort() {
	n.log.aborting.Store(true)
	n.disp.stop()
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	// A fatal error that came once the listeners were up is not the
	// error Start returns now: log it rather than lose it. Looked for
	// only now that the server is down: one may come until it began to
	// shut down (from then on nats-server logs them as errors).
	if !n.log.starting.Load() {
		select {
		case f := <-n.log.fatalCh:
			n.log.log.Error(f, "fatal", true)
		default:
		}
	}
	n.js.stop(n.log.log)
}

// waitListening waits until the listeners are bound, nats-server logs a
// fatal error, or ReadyTimeout passes. It polls in microseconds, not in
// ReadyForConnections' 25 ms steps: a node starts in a few milliseconds.
func (n *Node) waitListening() error {
	deadline := time.Now().Add(n.opts.ReadyTimeout)
	wait := 20 * time.Microsecond
	for {
		if f := n.log.fatal(); f != "" {
			return fmt.Errorf("%w: %s", ErrServer, f)
		}
		if n.srv.Addr() != nil && n.srv.ClusterAddr() != nil && (!n.opts.Monitor || n.srv.MonitorAddr() != nil) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w within %s (ReadyTimeout)", ErrNotReady, n.opts.ReadyTimeout)
		}
		time.Sleep(wait)
		wait = min(wait*2, 2*time.Millisecond)
	}
}

// listenCheck is a listener the node is about to open.
type listenCheck struct {
	hostField, portField string
	host                 string
	port                 int
}

// check binds the address for a moment, so that a port in use or a host
// that is no local address is refused with an error naming the option,
// rather than surfacing as a server log line.
func (l listenCheck) check() error {
	addr := net.JoinHostPort(l.host, strconv.Itoa(l.port))
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln.Close()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return &options.FieldError{Field: l.portField, Value: l.port, Err: fmt.Errorf("cannot listen on %s: %s", addr, msg)}
	}
	return &options.FieldError{Field: l.hostField, Value: l.host, Err: fmt.Errorf("cannot listen on %s: %s", addr, msg)}
}

// startRuntime connects the node's internal clients and starts the
// membership tracker, the client-event watch and the traffic sampler. It
// sets the node's runtime fields only once everything is up, so that
// stopRuntime, after rtDone, finds either all of them or none.
func (n *Node) startRuntime() (err error) {
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if n.stopping() {
		return ErrShutdown
	}
	// The watch connection is dialled alongside the system connection.
	// Its cues reach whichever tracker runs: a tracker reads the routes
	// when it starts, so no cue before matters.
	type dialled struct {
		w   *infoWatch
		err error
	}
	watchCh := make(chan dialled, 1)
	go func() {
		w, err := startInfoWatch(n.srv, n.creds, n.kickTracker)
		watchCh <- dialled{w, err}
	}()
	watchTaken := false
	defer func() {
		if err != nil && !watchTaken {
			if d := <-watchCh; d.w != nil {
				d.w.close()
			}
		}
	}()

	pd, err := n.dials.start(n)
	if err != nil {
		return err
	}
	sys, err := dialSys(pd, n.srv, n.creds)
	n.dials.finish(pd)
	if err != nil {
		return err
	}
	undo = append(undo, sys.close)
	sys.nc.SetErrorHandler(n.log.asyncError)
	var leaf *routetls.Leaf
	if n.sec != nil && n.sec.own != nil {
		sys.authorities, sys.handshaken, leaf = n.sec.accept, n.sec.handshaken, n.sec.leaf.Load()
	}
	err = sys.serveDescribe(description{
		Name: n.Name(), ID: n.ID(),
		// The addresses recorded at Start: the server may be stopping
		// by now, its listeners closed (a Shutdown right after Start).
		ClusterURL: n.urls.rawCluster,
		ClientURLs: []string{n.urls.rawClient},
	}, leaf)
	if err != nil {
		return err
	}
	if err := n.serveNames(sys); err != nil {
		return err
	}
	// One round trip puts every subscription so far in place.
	if err := sys.nc.Flush(); err != nil {
		return fmt.Errorf("natsmesh: in-process system connection: %w", err)
	}
	h := n.opts.Hooks
	var cw *clientWatch
	clientEvents := needsClientEvents(h)
	if clientEvents || h.AuthFailed != nil {
		if cw, err = sys.watchClients(n.srv, n.creds.user, clientEvents, h.AuthFailed != nil, n.disp.post); err != nil {
			return err
		}
		undo = append(undo, cw.stop)
	}
	d := <-watchCh
	watchTaken = true
	if d.err != nil {
		return d.err
	}
	undo = append(undo, d.w.close)
	t := newTracker(n.srv, sys, n.disp, n.log.log)
	t.onJoin = func(p Peer) { n.joiner.remember(p.ClusterURL); n.js.peerJoined(p) }
	t.onLeave = func(p Peer, why LeaveReason) { n.joiner.left(p, why); n.js.peerLeft(p, why) }
	n.sys, n.watch, n.clients = sys, d.w, cw
	n.tracker.Store(t)
	n.startJetStream()
	t.start()
	n.joiner.start()
	n.guard = startLifeguard(n)
	if h.Traffic != nil && n.opts.TrafficInterval > 0 {
		n.sampler = startSampler(n.srv, sys.counters, n.opts.TrafficInterval, n.disp.post)
	}
	return nil
}
