package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// levelTrace is below slog.LevelDebug: nats-server's protocol tracing.
const levelTrace = slog.LevelDebug - 4

// serverLog adapts nats-server's Logger interface to slog, tagging every
// line with the node's name, and lets the node react to a few lines: route
// connections opening and closing (a cue to re-read the routes) and fatal
// errors while starting.
type serverLog struct {
	log          *slog.Logger
	onRoute      func()           // a route connection was created or closed
	onRouteError func(RouteError) // an error or warning on a route connection

	// onClash hears of a refused route: the node at remote (ip:port) has
	// this node's name; dialled tells whether this node dialled it.
	onClash func(remote string, dialled bool)
	name    string // the node's name

	fatalCh chan string // the first fatal error, for the node's watch

	mu        sync.Mutex
	fatals    []string
	seedPorts []string // " ip:port:" or ":port:" of each seed, to recognise dials to them

	clashLogged map[string]time.Time // remote IP -> when a clash with it was last logged
	clashQuiet  map[string]int       // remote IP -> clashes not logged since
}

func newServerLog(l *slog.Logger, name string, onRoute func()) *serverLog {
	if l == nil {
		l = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return &serverLog{log: l.With("node", name), onRoute: onRoute, fatalCh: make(chan string, 1), name: name,
		clashLogged: map[string]time.Time{}, clashQuiet: map[string]int{}}
}

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

func (l *serverLog) enabled(level slog.Level) bool {
	return l.log.Enabled(context.Background(), level)
}

func (l *serverLog) emit(level slog.Level, format string, v []any) {
	if l.enabled(level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}

// Noticef logs at slog.LevelInfo and watches for route connections.
func (l *serverLog) Noticef(format string, v ...any) {
	// Route (and gateway, leaf) closes are notices; client closes are debug.
	if strings.Contains(format, "Route connection created") || strings.Contains(format, "connection closed") {
		if l.onRoute != nil {
			l.onRoute()
		}
	}
	// A route this node dialled, closed by a peer that gave this node's
	// name: that peer refused it as a duplicate.
	if strings.Contains(format, " - rid:") && strings.Contains(format, "connection closed") {
		if msg := fmt.Sprintf(format, v...); strings.Contains(msg, "Router connection closed") && strings.HasSuffix(msg, " - Remote: "+l.name) {
			remote, _, _ := strings.Cut(msg, " - rid:")
			if l.onClash != nil {
				l.onClash(remote, true)
			}
		}
	}
	l.emit(slog.LevelInfo, format, v)
}

// Warnf logs at slog.LevelWarn.
func (l *serverLog) Warnf(format string, v ...any) {
	l.routeProblem(format, v, true)
	l.emit(slog.LevelWarn, format, v)
}

// routeProblem reports errors and warnings logged by a route connection
// (their format starts with "ip:port - rid:N - ").
func (l *serverLog) routeProblem(format string, v []any, warning bool) {
	if l.onRouteError == nil || !strings.Contains(format, " - rid:") {
		return
	}
	msg := fmt.Sprintf(format, v...)
	remote, rest, ok := strings.Cut(msg, " - rid:")
	if !ok {
		return
	}
	if _, after, ok := strings.Cut(rest, " - "); ok {
		rest = after
	}
	l.onRouteError(RouteError{Remote: remote, Message: rest, Warning: warning})
}

// Errorf logs at slog.LevelError, except errors that are no error to the
// user. Two only restate a membership change, which PeerLeft reports: a
// failed write on a route to a peer that just went away, and a failed
// redial of a gossiped (not seed) route to it; those are logged at
// slog.LevelInfo. A pooled peer (a stock nats-server) asking for a
// dedicated system-account route, which a natsmesh node (one route per
// peer) declines as designed, is logged at slog.LevelDebug, and a client
// gone while it connected at slog.LevelInfo. A peer with
// this node's name is logged in words that say what happened.
func (l *serverLog) Errorf(format string, v ...any) {
	level := slog.LevelError
	switch {
	case strings.Contains(format, "rid:") && strings.Contains(format, "Error flushing"):
		level = slog.LevelInfo
	case strings.HasPrefix(format, "Error trying to connect to route"):
		if !l.aboutSeed(fmt.Sprint(v...)) {
			level = slog.LevelInfo
		}
	case strings.Contains(fmt.Sprintf(format, v...), "Not possible to have a dedicated route for account"):
		// Logged where it is refused, and where the refusal arrives.
		level = slog.LevelDebug
	case strings.Contains(format, "Problem registering with account") && strings.HasSuffix(fmt.Sprint(v...), "connection closed"):
		// A client that went away while it connected (for an
		// in-process one, often a Connect cut short by the node's end).
		level = slog.LevelInfo
	case strings.Contains(format, "Remote server has a duplicate name"):
		l.duplicateName(format, v)
		return
	}
	if level == slog.LevelError {
		l.routeProblem(format, v, false)
	}
	l.emit(level, format, v)
}

// duplicateName logs and reports a route refused because the node at its
// other end has this node's name.
// The log line is given once a minute per remote host (the other node
// redials every second or faster), with the number of refusals since.
func (l *serverLog) duplicateName(format string, v []any) {
	l.routeProblem(format, v, false)
	remote, _, _ := strings.Cut(fmt.Sprintf(format, v...), " - rid:")
	if l.onClash != nil {
		l.onClash(remote, false)
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	l.mu.Lock()
	if time.Since(l.clashLogged[host]) < time.Minute {
		l.clashQuiet[host]++
		l.mu.Unlock()
		return
	}
	quiet := l.clashQuiet[host]
	l.clashLogged[host], l.clashQuiet[host] = time.Now(), 0
	l.mu.Unlock()
	l.log.Error("natsmesh: refused a route from a node with this node's name (duplicate name): node names must be unique in a mesh",
		"remote", remote, "refused_since_last_report", quiet)
}

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

// Fatalf logs at slog.LevelError and records the failure; nats-server calls
// it when a listener cannot bind, and Start turns it into an error.
func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	l.fatals = append(l.fatals, msg)
	l.mu.Unlock()
	l.log.Error(msg, "fatal", true)
	select {
	case l.fatalCh <- msg:
	default:
	}
}

// Debugf logs at slog.LevelDebug.
func (l *serverLog) Debugf(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }

// Tracef logs below slog.LevelDebug.
func (l *serverLog) Tracef(format string, v ...any) { l.emit(levelTrace, format, v) }

// fatal returns the fatal errors logged so far, joined.
func (l *serverLog) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.fatals, "; ")
}

// asyncError is the async error handler of the node's own nats.go
// connections, which nats.go would otherwise print to standard error. A
// slow consumer there means the node dropped events of its own (goodbyes,
// client events): a warning.
func (l *serverLog) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	l.log.Warn("natsmesh: internal connection: "+err.Error(), "subject", subject)
}
