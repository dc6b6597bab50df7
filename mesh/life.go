package mesh

import (
	"fmt"
	"net"
	"strconv"
)

// Done returns a channel that is closed once the node has stopped, for any
// reason: Shutdown, Leave, its nats-server shut down directly
// (Server().Shutdown()) or a fatal nats-server error. Err then says why.
// Every method of a stopped node is safe to call: URLs return the node's
// last addresses, Peers returns nil, waits return ErrShutdown and Connect
// fails at once.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the node stopped: nil while it runs and after Shutdown
// or Leave; an error matching ErrServerStopped if its nats-server was shut
// down directly; one matching ErrServer with nats-server's message after a
// fatal nats-server error.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// end records why the node stopped and closes Done; the first call wins.
func (n *Node) end(err error) {
	n.endOnce.Do(func() {
		n.err = err
		close(n.done)
	})
}

// stopping reports whether the node is stopping or stopped, by its own
// Shutdown or Leave or under it: nothing new should start then.
func (n *Node) stopping() bool {
	select {
	case <-n.closed:
		return true
	default:
		return !n.srv.Running()
	}
}

// watchServer ends the node when its nats-server stops without the node's
// Shutdown or Leave (Server().Shutdown()), or reports a fatal error (which
// would make a stock nats-server exit): the node shuts down and Err says
// why.
func (n *Node) watchServer() {
	stopped := make(chan struct{})
	go func() {
		n.srv.WaitForShutdown()
		close(stopped)
	}()
	go func() {
		var err error
		select {
		case <-stopped:
			select {
			case <-n.closed: // the node's own Shutdown or Leave
			default:
				err = fmt.Errorf("%w: node %s", ErrServerStopped, n.Name())
			}
		case f := <-n.log.fatalCh:
			err = fmt.Errorf("%w: node %s: %s", ErrServer, n.Name(), f)
		}
		if err != nil {
			n.log.log.Error("natsmesh: node stopped", "err", err)
		}
		n.stopRuntime()
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.end(err)
	}()
}

// nodeURLs are a node's addresses, fixed once its listeners are up, so
// they stay readable after it stops.
type nodeURLs struct {
	client, cluster, monitor string
}

// recordURLs records the node's addresses once its listeners are up.
func (n *Node) recordURLs() {
	n.urls.client = nodeURL(n.opts.ClientAdvertise, n.opts.Host, n.srv.Addr())
	if a := n.srv.ClusterAddr(); a != nil {
		n.urls.cluster = nodeURL(n.opts.ClusterAdvertise, n.opts.ClusterHost, a)
	}
	if a := n.srv.MonitorAddr(); a != nil {
		n.urls.monitor = "http://" + net.JoinHostPort(concrete(n.opts.MonitorHost, "127.0.0.1"), strconv.Itoa(a.Port))
	}
}
