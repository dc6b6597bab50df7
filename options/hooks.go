package options

// Hooks are the application's view of the mesh. Every hook of a node is
// called from one goroutine of the library, one call at a time, in the order
// things happened; never from a nats-server goroutine, so a slow hook delays
// only the hooks after it. A nil hook is skipped.
type Hooks struct {
	// PeerJoined is called once when a peer's first route comes up, however
	// many pooled route connections it has. A restarted peer (same name,
	// new ID) is reported again.
	PeerJoined func(p Peer)

	// PeerLeft is called once when a peer's last route is gone, with why.
	PeerLeft func(p Peer, why LeaveReason)
}
