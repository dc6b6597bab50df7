package options

import "time"

// Hooks are the application's view of the mesh. Every hook of a node is
// called from one goroutine of the library, one call at a time, in the order
// the library learned of things (a peer's join once its addresses are
// known, so its leave always comes after it); never from a nats-server
// goroutine, so a slow hook delays only the hooks after it. A nil hook is
// skipped.
type Hooks struct {
	// PeerJoined is called once when a peer's first route comes up (and
	// its addresses are known), however many route connections it has. A
	// restarted peer (same name, new ID) is reported again.
	PeerJoined func(p Peer)

	// PeerLeft is called once when a peer's last route is gone, with why.
	PeerLeft func(p Peer, why LeaveReason)

	// ClientConnected is called when a client of this node connects (the
	// library's own in-process connections are not reported).
	ClientConnected func(c Client)

	// ClientDisconnected is called when a client of this node goes, with
	// the reason and its message counts.
	ClientDisconnected func(c Client)

	// SlowConsumer is called when the node dropped a client that could
	// not keep up (nats-server closes such a client and drops what was
	// pending for it); ClientDisconnected follows.
	SlowConsumer func(c Client)

	// AuthFailed is called when a client was refused for bad credentials.
	AuthFailed func(c Client)

	// RouteError is called for each error or warning nats-server reports
	// on a route connection, such as a client dialling the route port.
	RouteError func(e RouteError)

	// Traffic is called every Options.TrafficInterval with the messages
	// and bytes exchanged with each peer and with this node's clients.
	Traffic func(t Traffic)

	// PeerRemoved is called when this node removed a peer from the
	// JetStream meta group because it had been Lost for longer than
	// Options.RemoveLostAfter (lostFor says how long). The peer no longer
	// counts toward quorum; if it comes back, nats-server keeps it out of
	// the meta group for five minutes.
	PeerRemoved func(p Peer, lostFor time.Duration)
}
