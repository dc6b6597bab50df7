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
	// listener that could not bind, a configuration it refused).
	ErrServer = errors.New("natsmesh: nats-server failed")
)
