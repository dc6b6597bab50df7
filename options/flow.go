package options

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// Client is a client connection of a node, as nats-server's system-account
// connect and disconnect events describe it.
type Client struct {
	// ID is the connection's ID on its node (nats-server's CID).
	ID uint64
	// Name is the name the client gave (nats.Name), possibly empty.
	Name string
	// Account is the account the client is bound to ("$G" by default).
	Account string
	// User is the user it authenticated as, if any.
	User string
	// Host is the client's IP address and Port its port (0 for an
	// in-process connection, or one gone before it could be looked up).
	Host string
	Port int
	// Lang and Version identify the client library.
	Lang, Version string
	// ConnectedAt is when the connection was accepted.
	ConnectedAt time.Time

	// The fields below are set for disconnects (and slow consumers and
	// authentication failures, which are disconnects too).

	// DisconnectedAt is when the connection was closed.
	DisconnectedAt time.Time
	// Reason is nats-server's reason for closing, e.g. "Client Closed",
	// "Slow Consumer (Pending Bytes)", "Authentication Failure".
	Reason string
	// MsgsIn and BytesIn count what the node received from the client;
	// MsgsOut and BytesOut what it sent to the client.
	MsgsIn, BytesIn, MsgsOut, BytesOut int64
}

// String returns e.g. `client 7 "orders-api" (127.0.0.1:52814, $G)`.
func (c Client) String() string {
	return fmt.Sprintf("client %d %q (%s, %s)", c.ID, c.Name, net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), c.Account)
}

// RouteError is an error or warning nats-server reported on a route
// connection: a client that dialled the route port, a peer with a duplicate
// name, a route dropped as stale, a protocol error.
type RouteError struct {
	// Remote is the other end of the connection, "ip:port".
	Remote string
	// Message is nats-server's message, without the connection prefix.
	Message string
	// Warning is true for warnings, false for errors.
	Warning bool
	// Refused is true when the node refused (or was refused by) the other
	// end: a failed TLS handshake (no certificate, an unknown authority,
	// another secret), another cluster name. Refusals from one address
	// are reported once per minute, not at every retry: Suppressed says
	// how many were left out since the previous report.
	Refused    bool
	Suppressed int
}

// Traffic is one sample of the messages that crossed a node, over the
// interval since the previous sample.
type Traffic struct {
	// Start and End bound the interval.
	Start, End time.Time
	// Peers has one entry per peer connected at the end of the interval.
	Peers []PeerTraffic
	// ToClients counts what the node delivered to its own clients;
	// FromClients what its clients published.
	ToClients, FromClients Counts
}

// PeerTraffic is the traffic on the routes to one peer.
type PeerTraffic struct {
	// Peer is the peer's name and ID (addresses are not filled in).
	Peer Peer
	// To counts what this node sent to the peer; From what it received.
	To, From Counts
}

// Counts is a number of messages and their bytes.
type Counts struct {
	Msgs, Bytes int64
}
