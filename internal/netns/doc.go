// Package netns builds small, throwaway networks out of Linux network
// namespaces for tests that must cross a real network stack: a "switch"
// namespace holding a bridge, and hosts, each a namespace with one veth
// interface (eth0) plugged into that bridge.
//
// Everything is made inside namespaces the package creates: veth pairs are
// created in a host namespace with their peer end placed directly in the
// switch namespace, so the caller's own network namespace (its interfaces,
// addresses and routes) is never touched. Deleting the namespaces deletes
// the veth pairs and the bridge with them.
//
// Namespace names are Prefix, the creating process's PID, a random tag and
// a role: "nm-4242-1a2b3c-sw", "nm-4242-1a2b3c-h1". RemoveStale deletes
// those whose creating process is gone (a test binary that crashed or was
// killed before its cleanup ran).
//
// It needs Linux, root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's ip;
// Check reports whether they are available.
package netns
