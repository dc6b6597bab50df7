package mesh

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/internal/errprefix"
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
		// f is nats-server's, or runRuntime's "natsmesh: ..." (whose
		// prefix err already has). It is logged only below (see Fatalf).
		fatal := func(f string) error {
			return fmt.Errorf("%w: node %s: %s", ErrServer, n.Name(), strings.TrimPrefix(f, errprefix.Prefix))
		}
		var err error
		select {
		case <-stopped:
			select {
			case f := <-n.log.fatalCh: // a fatal error came first
				err = fatal(f)
			default:
				select {
				case <-n.closed: // the node's own Shutdown or Leave
				default:
					err = fmt.Errorf("%w: node %s", ErrServerStopped, n.Name())
				}
			}
		case f := <-n.log.fatalCh:
			err = fatal(f)
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

// internalGoneTimeout bounds how long Leave waits for the node's own
// connections to be gone before lame duck starts (waitInternalGone).
const internalGoneTimeout = 250 * time.Millisecond

// Leave leaves the mesh gracefully: the node enters lame-duck mode (stops
// accepting clients and closes its clients a few at a time over
// Options.LameDuckDuration, so they reconnect to peers), then shuts down.
// Peers report it with the reason Left. If ctx ends first the node shuts
// down at once and ctx's error is returned. Calling Leave again, or
// concurrently with Shutdown, is safe.
func (n *Node) Leave(ctx context.Context) error {
	n.leaveOnce.Do(func() {
		n.leaveDone = make(chan struct{})
		n.stopRuntime()
		// Lame duck spreads client closes over its duration; make sure
		// the node's own connections are gone and not counted.
		n.waitInternalGone(ctx)
		ldm := make(chan struct{})
		go func() {
			defer close(ldm)
			n.srv.LameDuckShutdown()
		}()
		select {
		case <-ldm:
		case <-ctx.Done():
			n.leaveErr = fmt.Errorf("natsmesh: leave of %s cut short: %w", n.Name(), ctx.Err())
			n.srv.Shutdown()
			<-ldm
		}
		n.Shutdown()
		close(n.leaveDone)
	})
	<-n.leaveDone
	return n.leaveErr
}

// waitInternalGone waits, briefly, until the server has removed the node's
// own in-process connections.
func (n *Node) waitInternalGone(ctx context.Context) {
	deadline := time.Now().Add(internalGoneTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cz, err := n.srv.Connz(&server.ConnzOptions{Limit: 1 << 20, Account: server.DEFAULT_SYSTEM_ACCOUNT, Username: true})
		if err != nil {
			return
		}
		internal := false
		for _, c := range cz.Conns {
			internal = internal || ownConnection(c.Account, c.AuthorizedUser, n.creds.user)
		}
		if !internal {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// Shutdown stops the node at once. Peers still hear a goodbye and report
// the node with the reason Left. Hooks queued but not yet called are
// dropped; a hook running at the time finishes on its own (Shutdown does
// not wait for it, so a hook may call Shutdown). Calling it again, or
// concurrently with Leave, is safe.
func (n *Node) Shutdown() {
	n.stopRuntime()
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.js.stop(n.log.log)
	n.end(nil)
}

// stopRuntime stops the tracker (so this node's own shutdown is not
// reported as its peers leaving), the hook dispatcher and the internal
// connections.
func (n *Node) stopRuntime() {
	n.stopOnce.Do(func() {
		close(n.closed)
		n.dials.abortAll()
		// A runtime still coming up finishes first (its steps are
		// in-process and bounded), or fails: either way, then, its
		// fields are settled.
		<-n.rtDone
		if n.sys != nil {
			if t := n.tracker.Load(); t != nil {
				t.farewell() // while the routes are up: peers report Left
			}
			if n.guard != nil {
				n.guard.stop()
			}
			n.joiner.stop()
			if t := n.tracker.Load(); t != nil {
				t.stop()
			}
			if n.sampler != nil {
				n.sampler.stop()
			}
			n.watch.close()
			n.sys.close()
		}
		n.js.closeConn()
		if n.clients != nil {
			n.clients.stop()
		}
		n.disp.stop()
	})
}
