package mesh

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

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
	if _, after, ok := strings.Cut(rest, cueFieldSep); ok {
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
		reason, _, _ := strings.Cut(rest, cueDetail)
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
