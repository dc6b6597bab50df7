package address

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// ErrSeed is matched by every error ParseSeed returns (package discovery
// exports it as discovery.ErrSeed).
var ErrSeed = errors.New(errprefix.Prefix + "bad seed URL")

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
	// The user information is split off by hand, up to the last "@": a
	// password may hold "#", "/" or "?", which url.Parse would read as the
	// start of a fragment, path or query, and then quote in its error.
	// What url.Parse sees, and may quote, holds no secret.
	rest, user, err := splitUserinfo(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrSeed, raw, err)
	}
	u, err := url.Parse(rest)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w %q: %w", ErrSeed, raw, err)
	}
	u.User = user
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

// splitUserinfo takes "scheme://user:password@rest" apart into
// "scheme://rest" and the user information (nil if there is none). The
// user information ends at the last "@" (a host never holds one); it may
// be percent-encoded, and is taken literally where it does not decode.
func splitUserinfo(s string) (string, *url.Userinfo, error) {
	scheme, after, ok := strings.Cut(s, "://")
	if !ok {
		return s, nil, nil
	}
	i := strings.LastIndex(after, "@")
	if i < 0 {
		return s, nil, nil
	}
	userinfo, hostPart := after[:i], after[i+1:]
	name, password, hasPassword := strings.Cut(userinfo, ":")
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	if name == "" {
		return "", nil, errors.New("empty user name before \"@\"")
	}
	if !hasPassword {
		return scheme + "://" + hostPart, url.User(name), nil
	}
	if p, err := url.PathUnescape(password); err == nil {
		password = p
	}
	return scheme + "://" + hostPart, url.UserPassword(name, password), nil
}

// Redact returns a URL for messages: any password is replaced by "xxxxx",
// however the URL is written (a password may hold "#", "/", "?" or "@"),
// and so is a user without a password, which may be a token.
// Text without "://" loses everything before its last "@".
func Redact(raw string) string {
	scheme, after, ok := strings.Cut(raw, "://")
	i := strings.LastIndex(after, "@")
	switch {
	case !ok:
		if j := strings.LastIndex(raw, "@"); j >= 0 {
			return "xxxxx" + raw[j:]
		}
		return raw
	case i < 0:
		return raw
	}
	name, _, hasPassword := strings.Cut(after[:i], ":")
	if !hasPassword {
		// A lone user may be a token (nats://TOKEN@host:4248).
		return scheme + "://xxxxx" + after[i:]
	}
	return scheme + "://" + name + ":xxxxx" + after[i:]
}

// SeedError is a seed that ParseSeeds refused.
type SeedError struct {
	// Extra is the refused seed's index in ParseSeeds' extra, or -1 for
	// its seed.
	Extra int
	// Redacted is the seed as given, with any password masked.
	Redacted string
	// Err is ParseSeed's error; it matches ErrSeed.
	Err error
}

// Error returns Err's message.
func (e *SeedError) Error() string { return e.Err.Error() }

// Unwrap returns Err, so that errors.Is matches ErrSeed.
func (e *SeedError) Unwrap() error { return e.Err }

// ParseSeeds parses a node's seed route URLs with ParseSeed: seed (none
// when "") followed by every extra seed, in that order, duplicates and
// user information kept. It is the one place that turns Options.Seed and
// Options.ExtraSeeds into URLs: package options checks them with it, and
// package mesh takes from it the URLs a node dials.
//
// It returns the URLs of the seeds that parse and a *SeedError for each
// one that does not, in order, so that a caller can report them all.
func ParseSeeds(seed string, extra []string) ([]*url.URL, []*SeedError) {
	var urls []*url.URL
	var bad []*SeedError
	add := func(i int, raw string) {
		u, err := ParseSeed(raw)
		if err != nil {
			bad = append(bad, &SeedError{Extra: i, Redacted: Redact(raw), Err: err})
			return
		}
		urls = append(urls, u)
	}
	if seed != "" {
		add(-1, seed)
	}
	for i, s := range extra {
		add(i, s)
	}
	return urls, bad
}
