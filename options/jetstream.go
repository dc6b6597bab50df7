package options

import (
	"path/filepath"
)

// normalizeJetStream checks the JetStream options: StoreDir is made
// absolute (a relative one would move with the working directory between
// restarts), RemoveLostAfter must not be negative.
func (n *Normalized) normalizeJetStream() []error {
	var errs []error
	if n.StoreDir != "" {
		abs, err := filepath.Abs(n.StoreDir)
		if err != nil {
			errs = append(errs, &FieldError{Field: "StoreDir", Value: n.StoreDir, Err: err})
		} else {
			n.StoreDir = abs
		}
	}
	if n.RemoveLostAfter < 0 {
		errs = append(errs, fieldErr("RemoveLostAfter", n.RemoveLostAfter, "must not be negative (0 never removes a lost peer)"))
	}
	return errs
}
