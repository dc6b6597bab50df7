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

// Client is a client connection of a node (see options.Client).
type Client = options.Client

// RouteError is an error nats-server reported on a route (see options.RouteError).
type RouteError = options.RouteError

// Traffic is one traffic sample (see options.Traffic).
type Traffic = options.Traffic

// PeerTraffic is the traffic with one peer (see options.PeerTraffic).
type PeerTraffic = options.PeerTraffic

// Counts is a number of messages and bytes (see options.Counts).
type Counts = options.Counts
