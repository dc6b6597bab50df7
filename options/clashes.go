package options

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// minLameDuckDuration is the shortest LameDuckDuration nats-server takes:
// its grace period must be strictly shorter, and a zero grace period means
// its default of 10 s.
const minLameDuckDuration = 2 * time.Nanosecond

// checkClashes refuses option combinations that are each valid alone but
// that nats-server would refuse (or fail on) once started: two listeners
// on one port of overlapping addresses, and a lame-duck duration too short
// for a grace period. o has its defaults applied.
func (o Options) checkClashes() []error {
	var errs []error
	type listener struct {
		hostField, portField string
		host                 string
		port                 int
	}
	ls := []listener{{"Host", "Port", o.Host, o.Port}, {"ClusterHost", "ClusterPort", o.ClusterHost, o.ClusterPort}}
	if o.Monitor {
		ls = append(ls, listener{"MonitorHost", "MonitorPort", o.MonitorHost, o.MonitorPort})
	}
	for i, a := range ls {
		for _, b := range ls[:i] {
			if a.port != 0 && a.port == b.port && overlap(a.host, b.host) {
				errs = append(errs, &FieldError{Field: a.portField, Value: a.port, Err: mentionErr(
					"is also %s (on %s "+strings.ReplaceAll(strconv.Quote(b.host), "%", "%%")+"): two listeners cannot share a port",
					b.portField, b.hostField)})
			}
		}
	}
	if o.LameDuckDuration > 0 && o.LameDuckDuration < minLameDuckDuration {
		errs = append(errs, fieldErr("LameDuckDuration", o.LameDuckDuration,
			"must be 0 (the default) or at least %s: nats-server needs a grace period strictly shorter than it", minLameDuckDuration))
	}
	return errs
}

// overlap reports whether listeners on hosts a and b, on one port, would
// clash: the same address, or either a wildcard.
func overlap(a, b string) bool {
	if a == b {
		return true
	}
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return (ia != nil && ia.IsUnspecified()) || (ib != nil && ib.IsUnspecified()) || (ia != nil && ia.Equal(ib))
}
