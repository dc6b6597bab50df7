// Package natsmesh embeds NATS cluster nodes in Go applications.
//
// Start a node with mesh.Start; give it one route URL of any node (the seed)
// and it gossips its way into a full mesh with every other node, the way
// nats-server clusters do. Options live in package options, which checks
// them (bind hosts, advertise addresses and seed URLs are resolved there);
// seed providers that find seeds at run time (DNS, SRV, a file) live in
// package discovery, and package mesh/meshtest starts whole clusters for
// tests. This root package holds only documentation and the end-to-end
// tests of the public API.
package natsmesh
