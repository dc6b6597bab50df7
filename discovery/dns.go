package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/natsmesh/natsmesh/internal/address"
	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// DNS is a Provider that resolves one name to the addresses of many nodes:
// every A and AAAA record of Name becomes a route URL Scheme://ip:Port. This
// is the Kubernetes headless-service pattern: a Service with clusterIP None
// has one record per ready pod.
//
// The URLs are sorted (IPv4 before IPv6, each in numeric order) and without
// duplicates; IPv6 addresses are written in brackets, e.g. nats://[fd00::5]:4248.
//
// A name that does not exist, or has no A or AAAA records, is an error
// matching ErrNoSeeds. Every error names the DNS name queried.
type DNS struct {
	// Name is the DNS name to resolve, e.g. "nats.orders.svc.cluster.local".
	// A name without a trailing dot is subject to the resolver's search
	// list; write "nats.example.com." to look up exactly that name.
	Name string

	// Port is the route port of every node (the nodes' ClusterPort), 1-65535.
	Port int

	// Scheme is the URL scheme, "nats" (the default when empty) or
	// "nats-route".
	Scheme string

	// Resolver looks the name up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Discover resolves Name; see DNS.
func (d DNS) Discover(ctx context.Context) ([]*url.URL, error) {
	name := strings.TrimSpace(d.Name)
	scheme := cmp.Or(d.Scheme, "nats")
	// Go's resolver may still answer (from its cache, or a fast server)
	// after ctx is done; a cancelled call must fail, always.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: DNS name %q: %w", ErrDiscovery, name, err)
	}
	switch {
	case name == "":
		return nil, fmt.Errorf("%w: DNS: no Name to look up", ErrDiscovery)
	case !address.ValidHostname(name):
		return nil, fmt.Errorf("%w: DNS name %q is not a valid host name", ErrDiscovery, d.Name)
	case d.Port < 1 || d.Port > 65535:
		return nil, fmt.Errorf("%w: DNS name %q: Port %d, want 1-65535", ErrDiscovery, name, d.Port)
	case scheme != "nats" && scheme != "nats-route":
		return nil, fmt.Errorf("%w: DNS name %q: Scheme %q, want nats or nats-route", ErrDiscovery, name, d.Scheme)
	}
	addrs, err := resolver(d.Resolver).LookupNetIP(ctx, "ip", name)
	if err != nil {
		return nil, lookupErr("DNS name", name, "A or AAAA", err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: DNS name %q has no A or AAAA records", ErrNoSeeds, name)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap().WithZone("")
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	urls := make([]*url.URL, 0, len(addrs))
	for _, a := range addrs {
		raw := scheme + "://" + netip.AddrPortFrom(a, uint16(d.Port)).String()
		u, err := parseSeedURL(raw)
		if err != nil { // not expected: the parts were checked
			return nil, fmt.Errorf("%w: DNS name %q: %w", ErrDiscovery, name, errprefix.Inner(err))
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// String describes the provider, e.g. "dns(nats.example.com:4248)".
func (d DNS) String() string {
	s := "dns("
	if d.Scheme != "" && d.Scheme != "nats" {
		s += d.Scheme + "://"
	}
	return s + net.JoinHostPort(d.Name, strconv.Itoa(d.Port)) + ")"
}

// SRV is a Provider that reads DNS SRV records: each record's target and
// port become a route URL nats://target:port, so the nodes need not share
// a port. The target is a host name, which the node resolves when it dials;
// it is written without its trailing dot.
//
// The name queried is _Service._Proto.Name, as net.LookupSRV builds it, or
// Name alone when Service and Proto are both empty (Name then is the full
// name, e.g. "_nats-route._tcp.example.com.").
//
// The URLs are ordered by the records' priority (lowest first), then by
// host and port, without duplicates. Records that name no usable node are
// skipped: target "." (RFC 2782: the service is decidedly not available
// there) and port 0. A name that does not exist, or has no usable SRV
// records, is an error matching ErrNoSeeds. Every error names the DNS name
// queried.
type SRV struct {
	// Service is the service name without its underscore, e.g. "nats-route".
	Service string

	// Proto is the protocol without its underscore, normally "tcp".
	Proto string

	// Name is the domain the service is in, e.g. "orders.svc.cluster.local",
	// or the full SRV name when Service and Proto are empty.
	Name string

	// Resolver looks the name up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Discover looks up the SRV records; see SRV.
func (s SRV) Discover(ctx context.Context) ([]*url.URL, error) {
	name := s.query()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: SRV name %q: %w", ErrDiscovery, name, err)
	}
	switch {
	case strings.TrimSpace(s.Name) == "":
		return nil, fmt.Errorf("%w: SRV: no Name to look up", ErrDiscovery)
	case (s.Service == "") != (s.Proto == ""):
		return nil, fmt.Errorf("%w: SRV name %q: give both Service and Proto, or neither (Service %q, Proto %q)",
			ErrDiscovery, name, s.Service, s.Proto)
	case !address.ValidHostname(name):
		return nil, fmt.Errorf("%w: SRV name %q is not a valid DNS name", ErrDiscovery, name)
	}
	_, records, err := resolver(s.Resolver).LookupSRV(ctx, s.Service, s.Proto, strings.TrimSpace(s.Name))
	// LookupSRV drops records with malformed targets and reports them
	// with an error besides the rest; the rest are still good seeds.
	if err != nil && len(records) == 0 {
		return nil, lookupErr("SRV name", name, "SRV", err)
	}
	type seed struct {
		prio uint16
		u    *url.URL
	}
	var (
		seeds   []seed
		skipped []string
	)
	for _, r := range records {
		target := strings.TrimSuffix(r.Target, ".")
		if target == "" || r.Port == 0 {
			skipped = append(skipped, net.JoinHostPort(r.Target, strconv.Itoa(int(r.Port))))
			continue
		}
		u, err := parseSeedURL("nats://" + net.JoinHostPort(target, strconv.Itoa(int(r.Port))))
		if err != nil {
			skipped = append(skipped, net.JoinHostPort(r.Target, strconv.Itoa(int(r.Port))))
			continue
		}
		seeds = append(seeds, seed{r.Priority, u})
	}
	if len(seeds) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("%w: SRV name %q has no usable records (skipped %s: target \".\" or port 0)",
				ErrNoSeeds, name, strings.Join(skipped, " "))
		}
		return nil, fmt.Errorf("%w: SRV name %q has no SRV records", ErrNoSeeds, name)
	}
	slices.SortStableFunc(seeds, func(a, b seed) int {
		return cmp.Or(cmp.Compare(a.prio, b.prio), strings.Compare(a.u.Host, b.u.Host))
	})
	urls := make([]*url.URL, len(seeds))
	for i, s := range seeds {
		urls[i] = s.u
	}
	return dedup(urls), nil
}

// query returns the name LookupSRV queries.
func (s SRV) query() string {
	name := strings.TrimSpace(s.Name)
	if s.Service == "" && s.Proto == "" {
		return name
	}
	return "_" + s.Service + "._" + s.Proto + "." + name
}

// String describes the provider, e.g. "srv(_nats-route._tcp.example.com)".
func (s SRV) String() string { return "srv(" + s.query() + ")" }

func resolver(r *net.Resolver) *net.Resolver {
	if r == nil {
		return net.DefaultResolver
	}
	return r
}

// lookupErr wraps a resolver's error: a name that does not exist, or has
// no records of the type, matches ErrNoSeeds; other failures (timeouts, a
// server that fails) match ErrDiscovery only. The *net.DNSError stays
// reachable with errors.As, and context errors with errors.Is.
func lookupErr(what, name, types string, err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("%w: %s %q has no %s records: %w", ErrNoSeeds, what, name, types, err)
	}
	return fmt.Errorf("%w: %s %q: %w", ErrDiscovery, what, name, err)
}
