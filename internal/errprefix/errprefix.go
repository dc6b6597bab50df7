// Package errprefix holds the prefix every error of natsmesh's packages
// (options, discovery, mesh, mesh/meshtest) starts with, once, as nats.go
// starts its own with "nats: ", and Inner, which drops it from an error
// wrapped inside another.
package errprefix

import "strings"

// Prefix starts every error message of natsmesh's packages, once: an
// error wrapped in another is written without it (see Inner). options and
// discovery build their messages on Prefix; mesh and mesh/meshtest write
// it out ("natsmesh: ...") and wrap their own errors and sentinels with
// Inner.
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
