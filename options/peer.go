package options

import (
	"fmt"
	"time"
)

// Peer is another node of the mesh, as one node sees it.
type Peer struct {
	// Name is the peer's server name, unique in the mesh.
	Name string
	// ID is the peer's server ID; a restarted node has a new one.
	ID string
	// ClusterURL is the route URL other nodes can seed from ("nats://host:port").
	// Empty if the peer did not say.
	ClusterURL string
	// ClientURLs are the URLs the peer accepts clients on.
	// Empty if the peer did not say.
	ClientURLs []string
	// JoinedAt is when this node saw the peer's first route come up.
	JoinedAt time.Time
}

// String returns "name (id)".
func (p Peer) String() string { return fmt.Sprintf("%s (%s)", p.Name, p.ID) }

// LeaveReason says why a peer left the mesh.
type LeaveReason int

const (
	// Left means the peer said goodbye: it called Leave or Shutdown (or a
	// stock nats-server was stopped or entered lame-duck mode).
	Left LeaveReason = iota + 1
	// Lost means the peer's routes dropped or went silent without a
	// goodbye: a crash, a kill -9, a network cut.
	Lost
)

// String returns "left" or "lost".
func (r LeaveReason) String() string {
	switch r {
	case Left:
		return "left"
	case Lost:
		return "lost"
	default:
		return fmt.Sprintf("LeaveReason(%d)", int(r))
	}
}
