package options

import (
	"errors"
	"fmt"
	"time"

	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// ErrInvalid is matched (with errors.Is) by every error that reports a bad
// option value, from Normalize, FromArgs or mesh.Start.
var ErrInvalid = errors.New("natsmesh: invalid option")

// FieldError reports one option with a bad value. It matches ErrInvalid and
// whatever Err matches.
type FieldError struct {
	// Field names the option. From Normalize (and mesh.Start) it is the
	// option's name as written in Options, e.g. "ClusterPort" or
	// "Users[0].Password"; from FromArgs, the flag as the user typed it
	// ("-p", "--cluster") or the environment variable (NATSMESH_SECRET).
	Field string
	// Value is the offending value; for a secret, its length only.
	Value any
	// Err says what is wrong with it.
	Err error
}

// Error returns e.g. `natsmesh: invalid option Port=-3: must be between
// -1 and 65535 (0 or -1: a free port)`.
// Strings are quoted; durations are written as such, e.g. `PingInterval=-1s`.
func (e *FieldError) Error() string {
	v := fmt.Sprintf("%#v", e.Value)
	if d, ok := e.Value.(time.Duration); ok {
		v = d.String()
	}
	return fmt.Sprintf("%v %s=%s: %v", ErrInvalid, e.Field, v, errprefix.Inner(e.Err))
}

// Unwrap returns ErrInvalid and the underlying error.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

func fieldErr(field string, value any, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}

// mention is the Err of a FieldError whose message names other options,
// such as "is also Port": FromArgs writes the flags that set them instead.
type mention struct {
	format string   // fmt format with one %s per name; no other verbs
	names  []string // options' names as written in Options
}

// mentionErr returns a mention; format has one %s per name and every
// other "%" doubled.
func mentionErr(format string, names ...string) *mention {
	return &mention{format: format, names: names}
}

func (m *mention) Error() string { return m.with(func(s string) string { return s }) }

// with writes the message with each name replaced by rename(name).
func (m *mention) with(rename func(string) string) string {
	args := make([]any, len(m.names))
	for i, n := range m.names {
		args[i] = rename(n)
	}
	return fmt.Sprintf(m.format, args...)
}
