package options_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/address"
	"github.com/natsmesh/natsmesh/options"
)

func TestNormalizeDefaults(t *testing.T) {
	n, err := options.Options{}.Normalize()
	require.NoError(t, err)

	assert.True(t, strings.HasPrefix(n.Name, "node-"), "generated name %q", n.Name)
	assert.Len(t, n.Name, len("node-")+8)
	assert.Equal(t, options.DefaultCluster, n.Cluster)
	assert.Equal(t, "127.0.0.1", n.Host)
	assert.Equal(t, "127.0.0.1", n.ClusterHost)
	assert.Zero(t, n.Port)
	assert.Zero(t, n.ClusterPort)
	assert.Empty(t, n.Seed)
	assert.Empty(t, n.ExtraSeeds)
	assert.Equal(t, options.DefaultPingInterval, n.PingInterval)
	assert.Equal(t, options.DefaultMaxPingsOut, n.MaxPingsOut)
	assert.Equal(t, options.DefaultLameDuckDuration, n.LameDuckDuration)
	assert.Equal(t, options.DefaultReadyTimeout, n.ReadyTimeout)

	other, err := options.Options{}.Normalize()
	require.NoError(t, err)
	assert.NotEqual(t, n.Name, other.Name, "two generated names are the same")
}

func TestNormalizeKeepsValues(t *testing.T) {
	tests := []struct {
		name  string
		in    options.Options
		check func(t *testing.T, n options.Options)
	}{
		{
			name: "everything given",
			in: options.Options{
				Name: "a", Cluster: "orders", Host: "localhost", Port: 4222,
				ClusterHost: "0.0.0.0", ClusterPort: 4248,
				Seed: "nats://10.0.0.5:4248", ExtraSeeds: []string{"nats-route://u:p@b:5248"},
				PingInterval: 3 * time.Second, MaxPingsOut: 5,
				LameDuckDuration: time.Minute, ReadyTimeout: time.Millisecond,
			},
			check: func(t *testing.T, n options.Options) {
				assert.Equal(t, "a", n.Name)
				assert.Equal(t, "orders", n.Cluster)
				assert.Equal(t, "localhost", n.Host)
				assert.Equal(t, 4222, n.Port)
				assert.Equal(t, "0.0.0.0", n.ClusterHost)
				assert.Equal(t, 4248, n.ClusterPort)
				assert.Equal(t, "nats://10.0.0.5:4248", n.Seed)
				assert.Equal(t, []string{"nats-route://u:p@b:5248"}, n.ExtraSeeds)
				seeds := parsedSeeds(t, n)
				require.Len(t, seeds, 2)
				assert.Equal(t, "nats://10.0.0.5:4248", seeds[0].String())
				assert.Equal(t, "b:5248", seeds[1].Host)
				assert.Equal(t, "u", seeds[1].User.Username())
				assert.Equal(t, 3*time.Second, n.PingInterval)
				assert.Equal(t, 5, n.MaxPingsOut)
				assert.Equal(t, time.Minute, n.LameDuckDuration)
				assert.Equal(t, time.Millisecond, n.ReadyTimeout)
			},
		},
		{
			name: "cluster host follows host",
			in:   options.Options{Host: "10.1.2.3"},
			check: func(t *testing.T, n options.Options) {
				assert.Equal(t, "10.1.2.3", n.Host)
				assert.Equal(t, "10.1.2.3", n.ClusterHost)
			},
		},
		{
			name: "IPv6 in brackets",
			in:   options.Options{Host: "[::1]", ClusterHost: "[::]"},
			check: func(t *testing.T, n options.Options) {
				assert.Equal(t, "::1", n.Host)
				assert.Equal(t, "::", n.ClusterHost)
			},
		},
		{
			name: "go-sockaddr template",
			in:   options.Options{Host: `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`},
			check: func(t *testing.T, n options.Options) {
				assert.Equal(t, "127.0.0.1", n.Host)
				assert.Equal(t, "127.0.0.1", n.ClusterHost)
			},
		},
		{
			name: "extra seeds without seed",
			in:   options.Options{ExtraSeeds: []string{"nats://a:1", "nats://b:2"}},
			check: func(t *testing.T, n options.Options) {
				seeds := parsedSeeds(t, n)
				require.Len(t, seeds, 2)
				assert.Equal(t, "a:1", seeds[0].Host)
				assert.Equal(t, "b:2", seeds[1].Host)
			},
		},
		{
			name: "-1 is a free port, as in nats-server",
			in:   options.Options{Port: -1, ClusterPort: -1, Monitor: true, MonitorPort: -1},
			check: func(t *testing.T, n options.Options) {
				assert.Zero(t, n.Port)
				assert.Zero(t, n.ClusterPort)
				assert.Zero(t, n.MonitorPort)
			},
		},
		{
			name: "highest ports",
			in:   options.Options{Port: 65535, ClusterPort: 65534},
			check: func(t *testing.T, n options.Options) {
				assert.Equal(t, 65535, n.Port)
				assert.Equal(t, 65534, n.ClusterPort)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := tt.in.Normalize()
			require.NoError(t, err)
			tt.check(t, n)
		})
	}
}

// parsedSeeds returns the seeds of n, normalized, as package mesh parses
// them to dial.
func parsedSeeds(t *testing.T, n options.Options) []*url.URL {
	t.Helper()
	seeds, bad := address.ParseSeeds(n.Seed, n.ExtraSeeds)
	require.Empty(t, bad)
	return seeds
}

// TestNormalizeTwice checks that normalizing a normalized copy gives it
// back: mesh.Start normalizes what it is given, which may be Normalize's
// result.
func TestNormalizeTwice(t *testing.T) {
	const loopback = `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`
	for _, in := range []options.Options{
		{},
		{
			Host: loopback, Port: -1, ClusterHost: "[::1]", ClusterPort: -1, Monitor: true, MonitorPort: -1,
			ClientAdvertise: loopback + ":4222", ClusterAdvertise: "[fd00:0:0:0:0:0:0:2]",
			Seed: " nats://u:p@a:1 ", ExtraSeeds: []string{"nats://b:2"},
			JetStream: true, StoreDir: "data",
		},
	} {
		once, err := in.Normalize()
		require.NoError(t, err)
		twice, err := once.Normalize()
		require.NoError(t, err)
		assert.Equal(t, once, twice)
	}
}

// TestNormalizeCopiesExtraSeeds checks that the result does not share the
// caller's slice.
func TestNormalizeCopiesExtraSeeds(t *testing.T) {
	in := options.Options{ExtraSeeds: []string{"nats://a:1"}}
	n, err := in.Normalize()
	require.NoError(t, err)
	n.ExtraSeeds[0] = "changed"
	assert.Equal(t, "nats://a:1", in.ExtraSeeds[0])
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    options.Options
		field string
		value any
		text  string // the value as the message writes it
	}{
		{name: "name with space", in: options.Options{Name: "a b"}, field: "Name", value: "a b", text: `"a b"`},
		{name: "name with tab", in: options.Options{Name: "a\tb"}, field: "Name", value: "a\tb", text: `"a\tb"`},
		{name: "name with control character", in: options.Options{Name: "a\x01"}, field: "Name", value: "a\x01", text: `"a\x01"`},
		{name: "cluster with space", in: options.Options{Cluster: "my cluster"}, field: "Cluster", value: "my cluster", text: `"my cluster"`},
		{name: "port -2", in: options.Options{Port: -2}, field: "Port", value: -2, text: "-2"},
		{name: "port 65536", in: options.Options{Port: 65536}, field: "Port", value: 65536, text: "65536"},
		{name: "cluster port -2", in: options.Options{ClusterPort: -2}, field: "ClusterPort", value: -2, text: "-2"},
		{name: "cluster port 65536", in: options.Options{ClusterPort: 65536}, field: "ClusterPort", value: 65536, text: "65536"},
		{name: "bad host", in: options.Options{Host: "bad host!"}, field: "Host", value: "bad host!", text: `"bad host!"`},
		{name: "host with port", in: options.Options{Host: "localhost:4222"}, field: "Host", value: "localhost:4222", text: `"localhost:4222"`},
		{name: "bad cluster host", in: options.Options{ClusterHost: "a..b"}, field: "ClusterHost", value: "a..b", text: `"a..b"`},
		{name: "seed scheme http", in: options.Options{Seed: "http://a:4248"}, field: "Seed", value: "http://a:4248", text: `"http://a:4248"`},
		{name: "seed without scheme", in: options.Options{Seed: "a:4248"}, field: "Seed", value: "a:4248", text: `"a:4248"`},
		{name: "seed without port", in: options.Options{Seed: "nats://a"}, field: "Seed", value: "nats://a", text: `"nats://a"`},
		{
			name:  "extra seed names its index",
			in:    options.Options{ExtraSeeds: []string{"nats://a:1", "http://b:2"}},
			field: "ExtraSeeds[1]", value: "http://b:2", text: `"http://b:2"`,
		},
		{name: "negative ping interval", in: options.Options{PingInterval: -time.Second}, field: "PingInterval", value: -time.Second, text: "-1s"},
		{name: "negative lame duck duration", in: options.Options{LameDuckDuration: -time.Millisecond}, field: "LameDuckDuration", value: -time.Millisecond, text: "-1ms"},
		{name: "negative ready timeout", in: options.Options{ReadyTimeout: -1}, field: "ReadyTimeout", value: time.Duration(-1), text: "-1ns"},
		{name: "negative max pings out", in: options.Options{MaxPingsOut: -1}, field: "MaxPingsOut", value: -1, text: "-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := tt.in.Normalize()
			require.Error(t, err)
			assert.Zero(t, n)
			assert.ErrorIs(t, err, options.ErrInvalid)
			var fe *options.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.Equal(t, tt.value, fe.Value)
			assert.Contains(t, err.Error(), tt.field+"="+tt.text)
		})
	}
}

// TestNormalizeSeveralErrors checks that every bad field is reported.
func TestNormalizeSeveralErrors(t *testing.T) {
	_, err := options.Options{Name: "a b", Port: -2, Seed: "http://x:1", PingInterval: -1}.Normalize()
	require.Error(t, err)
	assert.ErrorIs(t, err, options.ErrInvalid)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "%T does not join errors", err)
	var fields []string
	for _, e := range joined.Unwrap() {
		var fe *options.FieldError
		require.True(t, errors.As(e, &fe), "%v is not a *FieldError", e)
		fields = append(fields, fe.Field)
	}
	assert.Equal(t, []string{"Name", "Port", "Seed", "PingInterval"}, fields)
}
