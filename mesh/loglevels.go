package mesh

// The levels natsmesh logs nats-server's lines at where they differ from
// the level nats-server meant (serverLog's Errorf and Warnf ask these):
// a failed route dial is an error only if it is to a seed (a gossiped
// peer that went away is reported by PeerLeft); a route handshake that a
// peer cut while shutting down is info; routine JetStream warnings are
// info, and so is the removal from the meta group of a node that
// decommissions.

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
)

// setSeeds tells the log which route URLs are seeds: failures to dial them
// stay errors. A seed given by IP is recognised by "ip:port" in the dial
// error; one given by host name (dialled at an address the log cannot
// know) by its port alone.
func (l *serverLog) setSeeds(seeds []*url.URL) {
	ports := make([]string, 0, len(seeds))
	for _, u := range seeds {
		if net.ParseIP(u.Hostname()) != nil {
			ports = append(ports, " "+net.JoinHostPort(u.Hostname(), u.Port())+":")
		} else {
			ports = append(ports, ":"+u.Port()+":")
		}
	}
	l.mu.Lock()
	l.seedPorts = ports
	l.mu.Unlock()
}

// aboutSeed tells whether msg, a route dial error's text, is about a
// seed: it holds one of the " ip:port:" or ":port:" marks setSeeds keeps.
func (l *serverLog) aboutSeed(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.seedPorts {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// dialledPeerHungUp tells whether a route handshake error is one on a
// route to a peer's route address (one this node has met, not a seed),
// which the other end cut (connection reset, EOF) rather than refused (a
// TLS alert): the peer is shutting down. An accepted connection's remote
// address is a dialler's own port, never a peer's route address.
func (l *serverLog) dialledPeerHungUp(msg string) bool {
	if !strings.HasSuffix(msg, cueConnReset) && !strings.HasSuffix(msg, cueEOF) {
		return false
	}
	remote, _, _ := strings.Cut(msg, cueRouteTag)
	l.mu.Lock()
	known := slices.Contains(l.peerRoutes, remote)
	l.mu.Unlock()
	return known && !l.aboutSeed(" "+remote+":")
}

// setPeerRoutes tells the log the route addresses (host:port) of the
// peers this node has met.
func (l *serverLog) setPeerRoutes(hostports []string) {
	l.mu.Lock()
	l.peerRoutes = hostports
	l.mu.Unlock()
}

// jetStreamLevel returns the level to log a nats-server line at, given
// the level nats-server meant: routine JetStream warnings become info, and
// the removal of this node from the meta group is info while it
// decommissions.
func jetStreamLevel(level slog.Level, format string, v []any, decommissioning bool) slog.Level {
	if level != slog.LevelWarn && level != slog.LevelError {
		return level
	}
	msg := format
	if len(v) > 0 {
		msg = fmt.Sprintf(format, v...)
	}
	if level == slog.LevelError {
		if decommissioning && strings.HasPrefix(msg, decommissionedJetStream) {
			return slog.LevelInfo
		}
		return level
	}
	for _, p := range routineJetStream {
		if strings.HasPrefix(msg, p) {
			return slog.LevelInfo
		}
	}
	return level
}
