package mesh

import "errors"

var (
	// ErrShutdown is returned by calls on a node that has been shut down.
	ErrShutdown = errors.New("natsmesh: node is shut down")

	// ErrNotReady is returned by Start when the node's listeners did not
	// come up within Options.ReadyTimeout.
	ErrNotReady = errors.New("natsmesh: node not ready for connections")

	// ErrSubject is returned for a subject that is not valid where it is
	// used.
	ErrSubject = errors.New("natsmesh: bad subject")

	// ErrServer wraps errors nats-server reported while starting (a
	// configuration it refused, a listener that failed for a reason no
	// option explains), and the fatal errors that stop a running node
	// (see Node.Err). A port in use or a host that is no local address is
	// reported instead as an options.FieldError naming the option (it
	// matches options.ErrInvalid, not ErrServer).
	ErrServer = errors.New("natsmesh: nats-server failed")

	// ErrServerStopped is matched by Node.Err when the node's nats-server
	// was shut down directly (Server().Shutdown()) rather than through
	// Shutdown or Leave.
	ErrServerStopped = errors.New("natsmesh: nats-server stopped under the node")

	// ErrDuplicateName is matched by the error WaitForPeers returns when
	// the mesh the node tries to join has a node with the same Name: the
	// other node refuses its routes (or it refuses the other's). The error
	// names both nodes. A node restarted under its name while its old self
	// still runs (in lame duck, say) clashes with it until that one stops.
	ErrDuplicateName = errors.New("natsmesh: duplicate node name")
)
