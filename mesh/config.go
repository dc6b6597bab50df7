package mesh

import (
	"fmt"
	"net/url"

	"github.com/natsmesh/natsmesh/internal/address"
	"github.com/natsmesh/natsmesh/options"
)

// config is what a node runs with: its Options checked, with every default
// filled in and every address resolved (see options.Options.Normalize),
// and its seeds parsed.
type config struct {
	options.Options
	// Seeds are Seed followed by ExtraSeeds, parsed.
	Seeds []*url.URL
}

// newConfig checks o and makes the node's config from it. Bad options are
// refused with Normalize's error.
func newConfig(o options.Options) (config, error) {
	n, err := o.Normalize()
	if err != nil {
		return config{}, err
	}
	seeds, bad := address.ParseSeeds(n.Seed, n.ExtraSeeds)
	if len(bad) > 0 {
		// Normalize has checked the seeds with ParseSeeds: not reached.
		return config{}, fmt.Errorf("%w: %w", options.ErrInvalid, bad[0])
	}
	return config{Options: n, Seeds: seeds}, nil
}
