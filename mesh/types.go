package mesh

import "github.com/natsmesh/natsmesh/options"

// Peer is another node of the mesh as this node sees it (see options.Peer).
type Peer = options.Peer

// LeaveReason says why a peer left (see options.LeaveReason).
type LeaveReason = options.LeaveReason

const (
	// Left: the peer said goodbye (Leave, Shutdown, or a stopped nats-server).
	Left = options.Left
	// Lost: the peer's routes dropped or went silent without a goodbye.
	Lost = options.Lost
)
