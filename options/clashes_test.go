package options_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/options"
)

// TestNormalizeClashes: combinations nats-server would refuse once started
// are refused by Normalize, naming the field and its value.
func TestNormalizeClashes(t *testing.T) {
	tests := []struct {
		name  string
		in    options.Options
		field string
		value any
		want  string
	}{
		{name: "port is cluster port", in: options.Options{Port: 4222, ClusterPort: 4222},
			field: "ClusterPort", value: 4222, want: "is also Port"},
		{name: "wildcard cluster host on the client port", in: options.Options{Host: "127.0.0.1", Port: 4222, ClusterHost: "0.0.0.0", ClusterPort: 4222},
			field: "ClusterPort", value: 4222, want: "is also Port"},
		{name: "monitor port is client port", in: options.Options{Monitor: true, Port: 4222, MonitorPort: 4222},
			field: "MonitorPort", value: 4222, want: "is also Port"},
		{name: "monitor port is cluster port", in: options.Options{Monitor: true, ClusterPort: 4248, MonitorPort: 4248},
			field: "MonitorPort", value: 4248, want: "is also ClusterPort"},
		{name: "lame duck of 1ns", in: options.Options{LameDuckDuration: 1},
			field: "LameDuckDuration", value: time.Duration(1), want: "at least 2ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.Normalize()
			require.Error(t, err)
			assert.ErrorIs(t, err, options.ErrInvalid)
			var fe *options.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.Equal(t, tt.value, fe.Value)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestNormalizeNoFalseClashes: ports left to be picked, one port on two
// distinct addresses, and a monitor port while monitoring is off are fine.
func TestNormalizeNoFalseClashes(t *testing.T) {
	for _, o := range []options.Options{
		{},
		{Host: "127.0.0.1", Port: 4222, ClusterHost: "127.0.0.2", ClusterPort: 4222},
		{Port: 4222, MonitorPort: 4222},
		{LameDuckDuration: 2},
	} {
		_, err := o.Normalize()
		assert.NoError(t, err, "%+v", o)
	}
}
