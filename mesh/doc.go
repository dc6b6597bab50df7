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
package mesh
