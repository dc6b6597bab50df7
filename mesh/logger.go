package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
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
	redact       *redactor        // nil: only CONNECT lines are cut down

	decommissioning atomic.Bool // JetStream's "removed from the cluster" is expected

	// onClash hears of a refused route: the node at remote (ip:port) has
	// this node's name; dialled tells whether this node dialled it.
	onClash func(remote string, dialled bool)
	name    string // the node's name

	fatalCh chan string // the first fatal error, for the node's watch

	mu        sync.Mutex
	fatals    []string
	seedPorts []string // " ip:port:" or ":port:" of each seed, to recognise dials to them
	refusals  map[string]*refusal
	lastRoute *RouteError // the latest route error, for WaitForPeers' error

}

// refusalInterval is how often refusals from one address are reported:
// an intruder (or a misconfigured node) redialling every second does not
// flood the log.
const refusalInterval = time.Minute

// addrInText matches "ip:port" in an error's text ("read tcp
// 10.0.0.1:4248->10.0.0.9:40001: i/o timeout"), left out of the refusal
// key: ports change at every connection.
var addrInText = regexp.MustCompile(`\[?[0-9A-Fa-f:.]+\]?:[0-9]+`)

// refusalHost is the part of a remote host that refusals are counted by:
// an IPv4 address, or the /64 of an IPv6 one (one machine's addresses).
func refusalHost(host string) string {
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// maxRefusalKeys bounds the refusal counts kept: past it, counts older
// than refusalInterval are dropped, and if none is, new hosts and reasons
// share one count, so refusals from many addresses cannot grow the map or
// flood the log.
const maxRefusalKeys = 1024

// refusal counts the refusals of one remote host for one reason.
type refusal struct {
	reported   time.Time
	suppressed int
}

func newServerLog(l *slog.Logger, name string, onRoute func()) *serverLog {
	if l == nil {
		l = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return &serverLog{log: l.With("node", name), onRoute: onRoute, fatalCh: make(chan string, 1), name: name}
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
// passwords of Options.Users, which the application chose to give as
// they are (slog.LevelInfo).
func (l *serverLog) Warnf(format string, v ...any) {
	if strings.HasPrefix(format, cuePlaintextPasswords) {
		l.emit(slog.LevelInfo, format, v)
		return
	}
	if report, suppressed := l.routeProblem(format, v, true); report {
		l.emit(jetStreamLevel(slog.LevelWarn, format, v, false), format, v, suppressedAttrs(suppressed)...)
	}
}

// suppressedAttrs says how many refusals a line stands for.
func suppressedAttrs(n int) []any {
	if n == 0 {
		return nil
	}
	return []any{"suppressed", n, "since", refusalInterval.String() + " ago at most"}
}

// routeProblem reports errors and warnings logged by a route connection
// (their format starts with "ip:port - rid:N - ") and remembers the last
// one. It returns false for a refusal that is not to be reported now
// (one from the same host was reported less than refusalInterval ago);
// the line is then not logged either.
func (l *serverLog) routeProblem(format string, v []any, warning bool) (report bool, suppressed int) {
	if !strings.Contains(format, cueRouteTag) {
		return true, 0
	}
	msg := fmt.Sprintf(format, v...)
	remote, rest, ok := strings.Cut(msg, cueRouteTag)
	if !ok {
		return true, 0
	}
	if _, after, ok := strings.Cut(rest, " - "); ok {
		rest = after
	}
	e := RouteError{Remote: remote, Message: l.redact.hookText(rest), Warning: warning}
	for _, cue := range refusalCues {
		e.Refused = e.Refused || strings.Contains(rest, cue)
	}
	l.mu.Lock()
	if e.Refused {
		// One count per remote host and reason (without the detail
		// in parentheses, such as the certificate's fingerprint): the
		// port changes at every redial, and two intruders behind one
		// address are told apart by what is wrong with them.
		reason, _, _ := strings.Cut(rest, " (")
		key := refusalHost(hostOf(remote)) + " " + addrInText.ReplaceAllString(reason, "ADDR")
		if l.refusals == nil {
			l.refusals = map[string]*refusal{}
		}
		if _, ok := l.refusals[key]; !ok && len(l.refusals) >= maxRefusalKeys {
			for k, r := range l.refusals {
				if time.Since(r.reported) >= refusalInterval {
					delete(l.refusals, k)
				}
			}
			// Still full: refusals from this many places within an
			// interval are counted together.
			if len(l.refusals) >= maxRefusalKeys {
				key = "(from too many places to tell apart)"
			}
		}
		r := l.refusals[key]
		switch {
		case r == nil:
			l.refusals[key] = &refusal{reported: time.Now()}
		case time.Since(r.reported) < refusalInterval:
			r.suppressed++
			l.lastRoute = &e
			l.mu.Unlock()
			return false, 0
		default:
			e.Suppressed, r.suppressed, r.reported = r.suppressed, 0, time.Now()
		}
	}
	l.lastRoute = &e
	l.mu.Unlock()
	if l.onRouteError != nil {
		l.onRouteError(e)
	}
	return true, e.Suppressed
}

// lastRouteError returns the latest route error, or nil.
func (l *serverLog) lastRouteError() *RouteError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastRoute
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
	level := slog.LevelError
	switch {
	case strings.Contains(format, cueClientTag) && strings.Contains(fmt.Sprintf(format, v...), cueAuthError):
		// A client refused for its credentials: the client's problem,
		// which AuthFailed reports, not the node's.
		level = slog.LevelWarn
	case strings.Contains(format, cueRouteTag) && strings.Contains(format, cueFlushError):
		level = slog.LevelInfo
	case strings.HasPrefix(format, cueRouteDialError):
		if !l.aboutSeed(fmt.Sprint(v...)) {
			level = slog.LevelInfo
		}
	case strings.Contains(fmt.Sprintf(format, v...), cueDedicatedRoute):
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

// duplicateName logs and reports a route refused because the node at its
// other end has this node's name. Like every refusal, it is reported once
// a minute per remote host (the other node redials every second or
// faster), with the number of refusals since.
func (l *serverLog) duplicateName(format string, v []any) {
	report, quiet := l.routeProblem(format, v, false)
	remote, _, _ := strings.Cut(fmt.Sprintf(format, v...), cueRouteTag)
	if l.onClash != nil {
		l.onClash(remote, false)
	}
	if !report {
		return
	}
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
