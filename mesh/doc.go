// Package mesh runs natsmesh nodes: in-process nats-server nodes that join
// each other's cluster from a single seed route URL, form a full mesh by
// gossip, and report membership to the application through typed hooks.
//
//	a, _ := mesh.Start(options.Options{Name: "a"})
//	b, _ := mesh.Start(options.Options{Name: "b", Seed: a.ClusterURL()})
//	_ = b.WaitForPeers(ctx, 1)
//	nc, _ := b.Connect() // an in-process nats.go connection
//
// Start returns as soon as the node accepts connections; WaitForPeers waits
// for the mesh. Leave is the graceful exit (lame duck: clients move to peers,
// peers hear a goodbye); Shutdown is immediate. Peers that vanish without a
// goodbye are reported with the reason Lost.
//
// Clients of a node use its client URL (ClientURL) and learn the rest of the
// mesh from it; route URLs (ClusterURL) are only for other nodes.
//
// Start returns a Node, whose methods cover a node's life: its addresses
// and Peers, the waits (WaitForPeers, WaitForInterest), in-process
// connections (Connect), the end (Leave, Shutdown, Done, Err) and the
// embedded server itself (Server). Hooks set in options.Hooks are called one
// at a time by a dispatcher whose backlog HookStats reports. With
// Options.JetStream, JetStream returns a handle of nats.go's jetstream
// package, WaitForJetStream waits until streams can be placed, and
// Decommission takes a node out of the JetStream meta group for good
// before it leaves. WriteStockRouteFiles writes what a stock nats-server
// needs to join a mesh sealed by a Secret (StockRouteFiles).
//
// The values hooks receive (Peer, LeaveReason, Client, RouteError,
// Traffic, PeerTraffic, Counts) are aliases of those in package options,
// so either name can be used. Errors match the sentinels ErrShutdown,
// ErrNotReady, ErrSubject, ErrServer, ErrServerStopped, ErrDuplicateName
// and ErrNoJetStream with errors.Is.
package mesh
