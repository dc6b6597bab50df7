// Package errprefix holds the prefix every error of natsmesh's packages
// (options, discovery, mesh, mesh/meshtest) starts with, once, as nats.go
// starts its own with "nats: ", and Inner, which drops it from an error
// wrapped inside another.
package errprefix

import "strings"

// Prefix starts every error message of natsmesh's packages, once: an
// error wrapped in another is written without it (see Inner). A message
// starts with Prefix spelt out ("natsmesh: ...") or with a sentinel error
// that has it (ErrInvalid, ErrDiscovery, ErrShutdown, ...); a natsmesh
// error wrapped inside is passed through Inner. TestSentinels checks the
// sentinels.
const Prefix = "natsmesh: "

// Inner returns err for wrapping inside another natsmesh error: its text
// without a leading Prefix, so that the outer error carries the only one.
// errors.Is and errors.As see err as before. Inner(nil) is nil.
func Inner(err error) error {
	if err == nil {
		return nil
	}
	return inner{err}
}

type inner struct{ err error }

func (e inner) Error() string { return strings.TrimPrefix(e.err.Error(), Prefix) }

func (e inner) Unwrap() error { return e.err }
