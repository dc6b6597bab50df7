package mesh

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/options"
)

// Start starts a node and returns once it accepts client and route
// connections. It does not wait for the mesh: the seed may not be up yet;
// use WaitForPeers for that.
//
// Bad options are refused with an error that matches options.ErrInvalid
// and names the field and its value. On any error nothing is left running.
func Start(o options.Options) (*Node, error) {
	n, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	if err := checkPortFree("Port", n.Host, n.Port); err != nil {
		return nil, err
	}
	if err := checkPortFree("ClusterPort", n.ClusterHost, n.ClusterPort); err != nil {
		return nil, err
	}

	creds, err := newCredentials()
	if err != nil {
		return nil, err
	}
	node := &Node{opts: n, creds: creds, closed: make(chan struct{})}
	srv, err := server.NewServer(serverOptions(n, creds))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrServer, err)
	}
	// The tracker does not exist yet when the first route lines are
	// logged; routeActivity is a no-op until it does.
	sl := newServerLog(n.Logger, n.Name, n.Seeds, node.routeActivity)
	srv.SetLoggerV2(sl, sl.enabled(slog.LevelDebug), sl.enabled(levelTrace), false)
	node.srv, node.log = srv, sl

	srv.Start() // returns once the client listener is up (or failed)
	if err := node.waitListening(); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, err
	}
	if err := node.startRuntime(); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, err
	}
	return node, nil
}

// waitListening waits until both listeners are bound, nats-server logs a
// fatal error, or ReadyTimeout passes. It polls in microseconds, not in
// ReadyForConnections' 25 ms steps: a node starts in a few milliseconds.
func (n *Node) waitListening() error {
	deadline := time.Now().Add(n.opts.ReadyTimeout)
	wait := 20 * time.Microsecond
	for {
		if f := n.log.fatal(); f != "" {
			return fmt.Errorf("%w: %s", ErrServer, f)
		}
		if n.srv.Addr() != nil && n.srv.ClusterAddr() != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w within %s (ReadyTimeout)", ErrNotReady, n.opts.ReadyTimeout)
		}
		time.Sleep(wait)
		wait = min(wait*2, 2*time.Millisecond)
	}
}

// checkPortFree refuses a fixed port that is already taken, so the error
// names the option rather than surfacing as a server log line.
func checkPortFree(field, host string, port int) error {
	if port == 0 {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return &options.FieldError{Field: field, Value: port,
			Err: fmt.Errorf("cannot listen on %s: %s", net.JoinHostPort(host, strconv.Itoa(port)), msg)}
	}
	return l.Close()
}

// startRuntime connects the node's internal clients and starts the
// membership tracker and the hook dispatcher.
func (n *Node) startRuntime() error {
	sys, err := dialSys(n.srv, n.creds)
	if err != nil {
		return err
	}
	err = sys.serveDescribe(description{
		Name: n.Name(), ID: n.ID(), ClusterURL: n.ClusterURL(), ClientURLs: []string{n.ClientURL()},
	})
	if err != nil {
		sys.close()
		return err
	}
	disp := newDispatcher(n.opts.Hooks, n.log.log)
	t := newTracker(n.srv, sys, disp, n.log.log)
	watch, err := startInfoWatch(n.srv, n.creds, t.kick)
	if err != nil {
		disp.stop()
		sys.close()
		return err
	}
	n.sys, n.disp, n.watch = sys, disp, watch
	n.tracker.Store(t)
	t.start()
	return nil
}
