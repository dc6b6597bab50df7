package options

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/natsmesh/natsmesh/internal/address"
)

// Normalize checks every field and returns a copy of o with every default
// filled in and every go-sockaddr template resolved: the Options a node
// would run with. It is the one judge of option values: mesh.Start calls
// it, and FromArgs checks what the flags give with it.
//
// An application may call it to check a configuration before starting
// anything (a --check flag, a config reload) and read from its result what
// a node would run with: the defaults, the resolved host and advertised
// addresses. An empty Name gets a fresh random name at each call, so Start
// may pick another. mesh.Start takes Options and normalizes them itself:
// a normalized copy, changed or not, is checked again, and normalizing it
// again gives it back.
//
// The first bad field is reported as a *FieldError; several are joined
// with errors.Join. Either way errors.As finds a *FieldError and errors.Is
// matches ErrInvalid.
func (o Options) Normalize() (Options, error) {
	var errs []error
	n := o
	n.ExtraSeeds = append([]string(nil), o.ExtraSeeds...)

	if n.Name == "" {
		n.Name = "node-" + randomSuffix()
	} else if err := checkToken(n.Name); err != nil {
		errs = append(errs, &FieldError{Field: "Name", Value: o.Name, Err: err})
	}
	if n.Cluster == "" {
		n.Cluster = DefaultCluster
	} else if err := checkToken(n.Cluster); err != nil {
		errs = append(errs, &FieldError{Field: "Cluster", Value: o.Cluster, Err: err})
	}

	if n.Host == "" {
		n.Host = DefaultHost
	}
	host, err := address.ResolveHost(n.Host)
	if err != nil {
		errs = append(errs, &FieldError{Field: "Host", Value: o.Host, Err: err})
	}
	n.Host = host
	// The other listeners default to Host.
	for _, h := range []struct {
		field string
		v     *string
	}{{"ClusterHost", &n.ClusterHost}, {"MonitorHost", &n.MonitorHost}} {
		if *h.v == "" {
			*h.v = n.Host
		} else if r, err := address.ResolveHost(*h.v); err != nil {
			errs = append(errs, &FieldError{Field: h.field, Value: *h.v, Err: err})
		} else {
			*h.v = r
		}
	}

	for _, a := range []struct {
		field string
		v     *string
	}{{"ClientAdvertise", &n.ClientAdvertise}, {"ClusterAdvertise", &n.ClusterAdvertise}} {
		h, p, err := address.ResolveAdvertise(*a.v)
		switch {
		case err != nil:
			errs = append(errs, &FieldError{Field: a.field, Value: *a.v, Err: err})
		case h == "":
		case p == 0:
			*a.v = h
		default:
			*a.v = net.JoinHostPort(h, strconv.Itoa(p))
		}
	}

	for _, p := range []struct {
		field string
		v     *int
	}{{"Port", &n.Port}, {"ClusterPort", &n.ClusterPort}, {"MonitorPort", &n.MonitorPort}} {
		switch {
		case *p.v < -1 || *p.v > 65535:
			errs = append(errs, fieldErr(p.field, *p.v, "must be between -1 and 65535 (0 or -1: a free port)"))
		case *p.v == -1: // nats-server's way of writing a free port
			*p.v = 0
		}
	}

	_, bad := address.ParseSeeds(o.Seed, o.ExtraSeeds)
	for _, b := range bad {
		field := "Seed"
		if b.Extra >= 0 {
			field = fmt.Sprintf("ExtraSeeds[%d]", b.Extra)
		}
		errs = append(errs, &FieldError{Field: field, Value: b.Redacted, Err: b.Err})
	}

	durations := []struct {
		field string
		v     *int64
		def   int64
	}{
		{"PingInterval", (*int64)(&n.PingInterval), int64(DefaultPingInterval)},
		{"LameDuckDuration", (*int64)(&n.LameDuckDuration), int64(DefaultLameDuckDuration)},
		{"ReadyTimeout", (*int64)(&n.ReadyTimeout), int64(DefaultReadyTimeout)},
		{"DiscoverTimeout", (*int64)(&n.DiscoverTimeout), int64(DefaultDiscoverTimeout)},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			errs = append(errs, fieldErr(d.field, time.Duration(*d.v), "must not be negative (0 means the default)"))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if n.TrafficInterval < 0 {
		errs = append(errs, fieldErr("TrafficInterval", n.TrafficInterval, "must not be negative (0 turns traffic samples off)"))
	}
	switch {
	case n.MaxPingsOut < 0:
		errs = append(errs, fieldErr("MaxPingsOut", n.MaxPingsOut, "must not be negative (0 means the default)"))
	case n.MaxPingsOut == 0:
		n.MaxPingsOut = DefaultMaxPingsOut
	}
	errs = append(errs, o.checkSecurity()...)
	n.AcceptedSecrets = append([]string(nil), o.AcceptedSecrets...)
	n.Users = append([]User(nil), o.Users...)
	errs = append(errs, normalizeJetStream(&n)...)
	if len(errs) == 0 {
		errs = n.checkClashes()
	}
	if len(errs) == 1 {
		return Options{}, errs[0]
	}
	if len(errs) > 1 {
		return Options{}, errors.Join(errs...)
	}
	return n, nil
}

// checkToken refuses what nats-server refuses in server and cluster names.
func checkToken(s string) error {
	if strings.ContainsAny(s, " \t\r\n") {
		return errors.New("must not contain spaces")
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("must not contain control character %q", r)
		}
	}
	return nil
}

func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
