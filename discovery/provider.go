package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/natsmesh/natsmesh/internal/address"
	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// ErrDiscovery is matched (with errors.Is) by every error a Provider of
// this package returns, and by the errors of the functions that make them.
var ErrDiscovery = errors.New("natsmesh: seed discovery")

// ErrSeed is matched by the errors that report a bad seed URL: given to
// Static, or in a File (it also matches ErrDiscovery then).
var ErrSeed = address.ErrSeed

// ErrNoSeeds is matched by the errors of providers whose source exists in
// principle but named no node: a DNS name without A/AAAA or SRV records
// (or that does not exist at all). It also matches ErrDiscovery.
//
// A caller that retries with backoff can treat it as "not yet": in a
// starting Kubernetes StatefulSet, say, the headless service has no
// records until the first pod is ready.
var ErrNoSeeds = fmt.Errorf("%w: no seeds found", ErrDiscovery)

// Provider finds route URLs of nodes to join through: the seeds of a node
// that cannot be given a single fixed Seed.
//
// Discover returns seed route URLs (scheme nats or nats-route, host and
// port, no path; as Options.Seed takes them), without duplicates, each a fresh copy the caller
// may change. Its contract:
//   - a non-empty list and a nil error: these are the seeds known now;
//   - an empty list and a nil error: no seeds are known right now (an empty
//     seed file, say); the caller may start a mesh of its own, or ask again
//     later;
//   - a non-nil error (matching ErrDiscovery, and ErrNoSeeds when the source
//     answered that it knows no node): the seeds could not be found this
//     time; the list is then nil.
//
// Discover honours ctx's deadline and cancellation, may be called again at
// any time (each call looks again, or answers from an up-to-date cache), and
// is safe for concurrent use.
type Provider interface {
	Discover(ctx context.Context) ([]*url.URL, error)
}

// ProviderFunc adapts a function to the Provider interface.
type ProviderFunc func(ctx context.Context) ([]*url.URL, error)

// Discover calls f(ctx).
func (f ProviderFunc) Discover(ctx context.Context) ([]*url.URL, error) { return f(ctx) }

// Static returns a Provider that always returns urls, in the order given,
// without duplicates. Each URL is checked now, as Options.Seed is; the error names
// the first bad one by its position and value (password masked), and matches
// both ErrDiscovery and ErrSeed. Blank strings are skipped; with no URLs at
// all the provider returns an empty list (no seeds known).
func Static(urls ...string) (Provider, error) {
	var list []*url.URL
	for i, raw := range urls {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		u, err := parseSeedURL(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: static seed %d: %w", ErrDiscovery, i, errprefix.Inner(err))
		}
		list = append(list, u)
	}
	return static(dedup(list)), nil
}

type static []*url.URL

func (s static) Discover(ctx context.Context) ([]*url.URL, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: static seeds: %w", ErrDiscovery, err)
	}
	return clone(s), nil
}

// String lists the seeds, passwords masked.
func (s static) String() string { return "static(" + join(s) + ")" }

// Multi returns a Provider that asks every provider at once and merges what
// they return: in the order of providers, each provider's URLs in its own
// order, without duplicates. Nil providers are ignored.
//
// A failing provider does not fail the others: Multi returns an error only
// when every provider failed, and then the error wraps all of theirs: it
// matches ErrDiscovery, and whatever any of them matches (ErrNoSeeds,
// fs.ErrNotExist, context.DeadlineExceeded ...). With no providers, or when
// all succeed with empty lists, the result is an empty list and nil.
//
// A failure beside successes is not reported; to hear of it, wrap the
// provider (with ProviderFunc) to log its errors.
func Multi(providers ...Provider) Provider {
	m := multi{}
	for _, p := range providers {
		if p != nil {
			m = append(m, p)
		}
	}
	return m
}

type multi []Provider

func (m multi) Discover(ctx context.Context) ([]*url.URL, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: seed providers: %w", ErrDiscovery, err)
	}
	type result struct {
		urls []*url.URL
		err  error
	}
	results := make([]result, len(m))
	var wg sync.WaitGroup
	for i, p := range m {
		wg.Go(func() {
			urls, err := p.Discover(ctx)
			results[i] = result{urls, err}
		})
	}
	wg.Wait()
	var (
		all  []*url.URL
		errs []error
		ok   bool
	)
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		ok = true
		all = append(all, r.urls...)
	}
	if !ok {
		for i, err := range errs {
			errs[i] = errprefix.Inner(err)
		}
		return nil, fmt.Errorf("%w: all %d seed providers failed: %w", ErrDiscovery, len(m), errors.Join(errs...))
	}
	return dedup(all), nil
}

// String lists the providers.
func (m multi) String() string {
	parts := make([]string, len(m))
	for i, p := range m {
		parts[i] = fmt.Sprint(p)
	}
	return "multi(" + strings.Join(parts, ", ") + ")"
}

// parseSeedURL is address.ParseSeed, with a lone "/" path dropped so that
// nats://h:1 and nats://h:1/ are the same seed.
func parseSeedURL(raw string) (*url.URL, error) {
	u, err := address.ParseSeed(raw)
	if err != nil {
		return nil, err
	}
	u.Path, u.RawPath = "", ""
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// dedup drops the URLs equal to an earlier one, keeping the order.
func dedup(urls []*url.URL) []*url.URL {
	seen := make(map[string]bool, len(urls))
	out := urls[:0:0]
	for _, u := range urls {
		k := u.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, u)
	}
	return out
}

// clone copies the list and each URL in it.
func clone(urls []*url.URL) []*url.URL {
	if urls == nil {
		return nil
	}
	out := make([]*url.URL, len(urls))
	for i, u := range urls {
		c := *u
		out[i] = &c
	}
	return out
}

// join writes URLs for messages, passwords masked.
func join(urls []*url.URL) string {
	parts := make([]string, len(urls))
	for i, u := range urls {
		parts[i] = address.Redact(u.String())
	}
	return strings.Join(parts, " ")
}
