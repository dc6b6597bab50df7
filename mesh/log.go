package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// levelTrace is below slog.LevelDebug: nats-server's protocol tracing.
const levelTrace = slog.LevelDebug - 4

// serverLog adapts nats-server's Logger interface to slog, tagging every
// line with the node's name and keeping credentials out (redact.go), and
// lets the node react to a few lines (their words are in logcues.go): route
// connections opening and closing (a cue to re-read the routes), errors and
// warnings on routes (the RouteError hook, with refusals counted and
// reported once a minute per host: routeerrors.go), routes refused for a
// duplicate name (dupname.go), fatal errors (while starting, or ending the
// node). It also decides the level of each line where natsmesh knows
// better than nats-server (loglevels.go): failed dials of peers that left
// rather than of seeds, a peer hanging up as it stops, routine JetStream
// warnings, the meta group's removal of a node that decommissions.
type serverLog struct {
	log          *slog.Logger
	onRoute      func()           // a route connection was created or closed
	onRouteError func(RouteError) // an error or warning on a route connection
	redact       *redactor        // nil: only CONNECT lines are cut down

	decommissioning atomic.Bool // JetStream's "removed from the cluster" is expected
	// starting: Start waits for the listeners, and a fatal error now
	// is part of its error (Fatalf). aborting: a Start that failed is
	// taking its server down; a fatal error the server logs meanwhile
	// (as an error, see Errorf) is a consequence of the failure. Either
	// way such lines are slog.LevelDebug: the failure is reported once,
	// by Start.
	starting, aborting atomic.Bool
	// appPlaintext: the application gave a password that is no bcrypt
	// hash (Options.Users, SystemUser); set before the server starts.
	appPlaintext bool

	// onClash hears of a refused route: the node at remote (ip:port) has
	// this node's name; dialled tells whether this node dialled it.
	onClash func(remote string, dialled bool)
	name    string // the node's name

	fatalCh chan string // the first fatal error, for the node's watch

	mu         sync.Mutex
	fatals     []string
	seedPorts  []string // " ip:port:" or ":port:" of each seed, to recognise dials to them
	peerRoutes []string // host:port of the route URLs of the peers met
	refusals   map[string]*refusal
	lastRoute  *RouteError // the latest route error, for WaitForPeers' error

}

func newServerLog(l *slog.Logger, name string, onRoute func()) *serverLog {
	if l == nil {
		l = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	sl := &serverLog{log: l.With("node", name), onRoute: onRoute, fatalCh: make(chan string, 1), name: name}
	sl.starting.Store(true)
	return sl
}

func (l *serverLog) enabled(level slog.Level) bool {
	return l.log.Enabled(context.Background(), level)
}

func (l *serverLog) emit(level slog.Level, format string, v []any, attrs ...any) {
	if l.enabled(level) {
		l.log.Log(context.Background(), level, l.redact.line(fmt.Sprintf(format, v...)), attrs...)
	}
}

// Noticef logs at slog.LevelInfo and watches for route connections.
func (l *serverLog) Noticef(format string, v ...any) {
	// Route (and gateway, leaf) closes are notices; client closes are debug.
	if strings.Contains(format, cueRouteCreated) || strings.Contains(format, cueConnClosed) {
		if l.onRoute != nil {
			l.onRoute()
		}
	}
	// A route this node dialled, closed by a peer that gave this node's
	// name: that peer refused it as a duplicate.
	if strings.Contains(format, cueRouteTag) && strings.Contains(format, cueConnClosed) {
		if msg := fmt.Sprintf(format, v...); strings.Contains(msg, cueRouterClosed) && strings.HasSuffix(msg, cueRemoteTag+l.name) {
			remote, _, _ := strings.Cut(msg, cueRouteTag)
			if l.onClash != nil {
				l.onClash(remote, true)
			}
		}
	}
	l.emit(slog.LevelInfo, format, v)
}

// Warnf logs at slog.LevelWarn, except nats-server's advice to hash the
// passwords: slog.LevelInfo when the application gave passwords as they
// are (Options.Users, SystemUser), which it chose to do; slog.LevelDebug
// when the only ones are the node's own, random logins, which the advice
// does not concern.
func (l *serverLog) Warnf(format string, v ...any) {
	if strings.HasPrefix(format, cuePlaintextPasswords) {
		level := slog.LevelDebug
		if l.appPlaintext {
			level = slog.LevelInfo
		}
		l.emit(level, format, v)
		return
	}
	if report, suppressed := l.routeProblem(format, v, true); report {
		l.emit(jetStreamLevel(slog.LevelWarn, format, v, false), format, v, suppressedAttrs(suppressed)...)
	}
}

// Errorf logs at slog.LevelError, except errors that are no error to the
// user. Two only restate a membership change, which PeerLeft reports: a
// failed write on a route to a peer that just went away, and a failed
// redial of a gossiped (not seed) route to it; those are logged at
// slog.LevelInfo. A pooled peer (a stock nats-server) asking for a
// dedicated system-account route, which a natsmesh node (one route per
// peer) declines as designed, is logged at slog.LevelDebug, and a client
// gone while it connected at slog.LevelInfo. A peer with
// this node's name is logged in words that say what happened. A client
// refused for its credentials is logged at slog.LevelWarn.
func (l *serverLog) Errorf(format string, v ...any) {
	// A fatal error that comes while nats-server shuts down it logs as
	// Errorf(format, v), its arguments in one slice: spread them. While
	// a failed Start takes its server down, such a fatal error is a
	// consequence of the failure: debug.
	if len(v) == 1 {
		if inner, ok := v[0].([]any); ok {
			if l.aborting.Load() {
				l.emit(slog.LevelDebug, format, inner, "fatal", true)
				return
			}
			v = inner
		}
	}
	level := slog.LevelError
	msg := fmt.Sprintf(format, v...)
	switch {
	case strings.Contains(format, cueClientTag) && strings.Contains(msg, cueAuthError):
		// A client refused for its credentials: the client's problem,
		// which AuthFailed reports, not the node's.
		level = slog.LevelWarn
	case strings.Contains(format, cueRouteTag) && strings.Contains(format, cueFlushError):
		level = slog.LevelInfo
	case strings.Contains(format, cueRouteTag) && strings.Contains(format, cueTLSHandshakeError) && l.dialledPeerHungUp(msg):
		// A route this node dialled, to a peer (not a seed) that hung
		// up mid-handshake: it is shutting down, which PeerLeft
		// reports. Not a refusal either.
		level = slog.LevelInfo
	case strings.HasPrefix(format, cueRouteDialError):
		if !l.aboutSeed(fmt.Sprint(v...)) {
			level = slog.LevelInfo
		}
	case strings.Contains(msg, cueDedicatedRoute):
		// Logged where it is refused, and where the refusal arrives.
		level = slog.LevelDebug
	case strings.Contains(format, cueRegisterAccount) && strings.HasSuffix(fmt.Sprint(v...), cueConnClosed):
		// A client that went away while it connected (for an
		// in-process one, often a Connect cut short by the node's end).
		level = slog.LevelInfo
	case strings.Contains(format, cueDuplicateName):
		l.duplicateName(format, v)
		return
	}
	level = jetStreamLevel(level, format, v, l.decommissioning.Load())
	var attrs []any
	if level == slog.LevelError {
		report, suppressed := l.routeProblem(format, v, false)
		if !report {
			return
		}
		attrs = suppressedAttrs(suppressed)
	}
	l.emit(level, format, v, attrs...)
}

// Fatalf records a failure; nats-server calls it when a listener cannot
// bind. The first one is reported once, not logged here: while the node
// starts, Start returns it as its error; later, the node stops and logs
// it ("natsmesh: node stopped", see watchServer) and Err returns it. Any
// after the first are logged at slog.LevelError, or at slog.LevelDebug
// while they are part of Start's failing listeners (starting).
func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	l.fatals = append(l.fatals, msg)
	l.mu.Unlock()
	select {
	case l.fatalCh <- msg:
		return
	default:
	}
	// While a failed Start takes its server down, nats-server logs a
	// fatal error as an error (see Errorf); one that still reaches Fatalf
	// came before, and is no consequence of that failure.
	if l.starting.Load() {
		l.log.Debug(msg, "fatal", true)
		return
	}
	l.log.Error(msg, "fatal", true)
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
