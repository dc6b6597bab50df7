package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrSeed is matched by every error ParseSeed returns.
var ErrSeed = errors.New("bad seed URL")

// ParseSeed checks a route URL as nats-server's -routes takes it:
// nats://host:port or nats-route://host:port, optionally with user:password.
// A client URL cannot be told apart from a route URL by its form; pointing a
// seed at a client port is reported later, by the server's log.
//
// Error messages show the URL with any password masked.
func ParseSeed(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	raw = Redact(raw)
	// Without "://", url.Parse reads "host:4248" as scheme "host" and
	// refuses "10.0.0.5:4248" outright; say what is actually missing.
	if !strings.Contains(s, "://") {
		return nil, fmt.Errorf("%w %q: no scheme; write nats://host:port", ErrSeed, raw)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the whole URL, password and all: keep only
		// what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w %q: %w", ErrSeed, raw, err)
	}
	switch u.Scheme {
	case "nats", "nats-route":
	case "":
		return nil, fmt.Errorf("%w %q: no scheme; write nats://host:port", ErrSeed, raw)
	default:
		return nil, fmt.Errorf("%w %q: scheme %q, want nats or nats-route", ErrSeed, raw, u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("%w %q: want host:port: %w", ErrSeed, raw, err)
	}
	if host == "" {
		return nil, fmt.Errorf("%w %q: no host", ErrSeed, raw)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("%w %q: port %q, want 1-65535", ErrSeed, raw, port)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w %q: unexpected path, query or fragment", ErrSeed, raw)
	}
	return u, nil
}

// Redact returns a URL for messages: any password is replaced by "xxxxx".
// Text that does not parse as a URL loses everything before an "@".
func Redact(raw string) string {
	if u, err := url.Parse(strings.TrimSpace(raw)); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return "xxxxx" + raw[i:]
	}
	return raw
}
