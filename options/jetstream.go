package options

import (
	"flag"
	"path/filepath"
)

// normalizeJetStream checks the JetStream options of o: StoreDir is made
// absolute (a relative one would move with the working directory between
// restarts), RemoveLostAfter must not be negative.
func normalizeJetStream(o *Options) []error {
	var errs []error
	if o.StoreDir != "" {
		abs, err := filepath.Abs(o.StoreDir)
		if err != nil {
			errs = append(errs, &FieldError{Field: "StoreDir", Value: o.StoreDir, Err: err})
		} else {
			o.StoreDir = abs
		}
	}
	if o.RemoveLostAfter < 0 {
		errs = append(errs, fieldErr("RemoveLostAfter", o.RemoveLostAfter, "must not be negative (0 never removes a lost peer)"))
	}
	return errs
}

// jetStreamFlags registers nats-server's JetStream flags (-js,
// --jetstream, -sd, --store_dir) on fs; the function it returns copies
// their values into o once fs is parsed.
func jetStreamFlags(fs *flag.FlagSet) func(o *Options) {
	var on bool
	var dir string
	for _, n := range []string{"js", "jetstream"} {
		fs.BoolVar(&on, n, false, "turn on JetStream")
	}
	for _, n := range []string{"sd", "store_dir"} {
		fs.StringVar(&dir, n, "", "JetStream store directory")
	}
	return func(o *Options) {
		o.JetStream = on
		o.StoreDir = dir
	}
}
