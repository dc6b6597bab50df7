package errprefix_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/natsmesh/natsmesh/internal/errprefix"
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
