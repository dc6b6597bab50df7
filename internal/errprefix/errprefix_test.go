package errprefix_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/natsmesh/natsmesh/discovery"
	"github.com/natsmesh/natsmesh/internal/errprefix"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

func TestInner(t *testing.T) {
	sentinel := errors.New(errprefix.Prefix + "bad thing")
	err := fmt.Errorf("%w: in %q", sentinel, "x")
	outer := fmt.Errorf(errprefix.Prefix+"outer: %w", errprefix.Inner(err))
	assert.Equal(t, `natsmesh: outer: bad thing: in "x"`, outer.Error())
	assert.ErrorIs(t, outer, sentinel)
	assert.Nil(t, errprefix.Inner(nil))
	assert.Equal(t, "no prefix", errprefix.Inner(errors.New("no prefix")).Error())
}

// TestSentinels checks that the sentinel errors users match with errors.Is
// start with the prefix, once.
func TestSentinels(t *testing.T) {
	for _, err := range []error{
		options.ErrInvalid, discovery.ErrDiscovery, discovery.ErrNoSeeds, discovery.ErrSeed,
		mesh.ErrShutdown, mesh.ErrNotReady, mesh.ErrSubject, mesh.ErrServer, mesh.ErrServerStopped,
		mesh.ErrDuplicateName, mesh.ErrNoJetStream,
	} {
		assert.True(t, strings.HasPrefix(err.Error(), errprefix.Prefix), err.Error())
		assert.Equal(t, 1, strings.Count(err.Error(), errprefix.Prefix), err.Error())
	}
}
