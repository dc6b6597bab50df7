package mesh

import (
	"net"
	"strconv"
	"strings"
)

// unwildcard replaces a wildcard host in a nats:// URL with fallback.
func unwildcard(u, fallback string) string {
	h, p, err := net.SplitHostPort(strings.TrimPrefix(u, "nats://"))
	if err != nil {
		return u
	}
	port, _ := strconv.Atoi(p)
	return natsURL(h, fallback, port)
}

// natsURL builds nats://host:port, replacing a wildcard or empty host.
func natsURL(host, fallback string, port int) string {
	return "nats://" + net.JoinHostPort(concrete(host, fallback), strconv.Itoa(port))
}

// concrete returns host, or fallback if host is empty or a wildcard
// (0.0.0.0, ::), which nobody can dial.
func concrete(host, fallback string) string {
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fallback
	}
	return host
}

// rawNodeURL is the advertised address, else the listen address, which
// may be a wildcard (0.0.0.0): peers told of it put the address they see
// the node's route come from in its place.
func rawNodeURL(advertise, host string, addr net.Addr) string {
	port := 0
	if a, ok := addr.(*net.TCPAddr); ok && a != nil {
		port = a.Port
	}
	if advertise != "" {
		if h, p, err := net.SplitHostPort(advertise); err == nil {
			return "nats://" + net.JoinHostPort(h, p)
		}
		host = advertise
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// nodeURLs are a node's addresses, fixed once its listeners are up, so
// they stay readable after it stops.
type nodeURLs struct {
	client, cluster, monitor string
	// As rawNodeURL gives them: what the node describes itself with.
	rawClient, rawCluster string
}

// recordURLs records the node's addresses once its listeners are up: as
// they are dialled (a wildcard host replaced by loopback) and as the node
// describes itself (rawNodeURL).
func (n *Node) recordURLs() {
	n.urls.rawClient = rawNodeURL(n.opts.ClientAdvertise, n.opts.Host, n.srv.Addr())
	n.urls.client = unwildcard(n.urls.rawClient, "127.0.0.1")
	if a := n.srv.ClusterAddr(); a != nil {
		n.urls.rawCluster = rawNodeURL(n.opts.ClusterAdvertise, n.opts.ClusterHost, a)
		n.urls.cluster = unwildcard(n.urls.rawCluster, "127.0.0.1")
	}
	if a := n.srv.MonitorAddr(); a != nil {
		n.urls.monitor = "http://" + net.JoinHostPort(concrete(n.opts.MonitorHost, "127.0.0.1"), strconv.Itoa(a.Port))
	}
}

// hostOf returns the host of "host" or "host:port".
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
