package options

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is matched (with errors.Is) by every error that reports a bad
// option value.
var ErrInvalid = errors.New("invalid option")

// FieldError reports one option with a bad value. It matches ErrInvalid and
// whatever Err matches.
type FieldError struct {
	// Field is the option's name as written in Options, e.g. "ClusterPort".
	Field string
	// Value is the offending value.
	Value any
	// Err says what is wrong with it.
	Err error
}

// Error returns e.g. `invalid option Port=-3: must be between 0 (a free
// port) and 65535`.
// Strings are quoted; durations are written as such, e.g. `PingInterval=-1s`.
func (e *FieldError) Error() string {
	v := fmt.Sprintf("%#v", e.Value)
	if d, ok := e.Value.(time.Duration); ok {
		v = d.String()
	}
	return fmt.Sprintf("%v %s=%s: %v", ErrInvalid, e.Field, v, e.Err)
}

// Unwrap returns ErrInvalid and the underlying error.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

func fieldErr(field string, value any, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}
