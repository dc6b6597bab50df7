package options_test

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/options"
)

func TestFromArgs(t *testing.T) {
	tests := []struct {
		name string
		args string
		want options.Options
	}{
		{name: "no flags", args: "", want: options.Options{}},
		{
			name: "seed node A",
			args: "-p 4222 -cluster nats://localhost:4248",
			want: options.Options{Port: 4222, ClusterHost: "localhost", ClusterPort: 4248},
		},
		{
			name: "seed node B",
			args: "-p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248",
			want: options.Options{Port: 5222, ClusterHost: "localhost", ClusterPort: 5248, Seed: "nats://localhost:4248"},
		},
		{
			name: "seed node C",
			args: "-p 6222 -cluster nats://localhost:6248 -routes nats://localhost:4248",
			want: options.Options{Port: 6222, ClusterHost: "localhost", ClusterPort: 6248, Seed: "nats://localhost:4248"},
		},
		{
			name: "double dashes and equals signs",
			args: "--port=4222 --cluster=nats://127.0.0.1:4248 --routes=nats://a:1,nats://b:2,nats://c:3",
			want: options.Options{
				Port: 4222, ClusterHost: "127.0.0.1", ClusterPort: 4248,
				Seed: "nats://a:1", ExtraSeeds: []string{"nats://b:2", "nats://c:3"},
			},
		},
		{
			name: "short aliases",
			args: "-n a -a 10.0.0.1 -p 1 --routes nats://a:1",
			want: options.Options{Name: "a", Host: "10.0.0.1", Port: 1, Seed: "nats://a:1"},
		},
		{
			name: "long aliases",
			args: "--server_name b --net 0.0.0.0 --cluster_listen nats-route://0.0.0.0:2 --cluster_name orders",
			want: options.Options{Name: "b", Host: "0.0.0.0", ClusterHost: "0.0.0.0", ClusterPort: 2, Cluster: "orders"},
		},
		{
			name: "name and addr",
			args: "--name c --addr localhost",
			want: options.Options{Name: "c", Host: "localhost"},
		},
		{
			name: "random ports as nats-server writes them",
			args: "-p -1 -cluster nats://localhost:-1",
			want: options.Options{Port: 0, ClusterHost: "localhost", ClusterPort: 0},
		},
		{
			name: "port zero",
			args: "-p 0 -cluster nats://localhost:0",
			want: options.Options{ClusterHost: "localhost"},
		},
		{
			name: "highest port",
			args: "-p 65535",
			want: options.Options{Port: 65535},
		},
		{
			name: "cluster URL with IPv6 host",
			args: "-cluster nats://[::1]:4248",
			want: options.Options{ClusterHost: "::1", ClusterPort: 4248},
		},
		{
			name: "cluster URL without host",
			args: "-cluster nats://:4248",
			want: options.Options{ClusterPort: 4248},
		},
		{
			name: "cluster URL with trailing slash",
			args: "-cluster nats://localhost:4248/",
			want: options.Options{ClusterHost: "localhost", ClusterPort: 4248},
		},
		{
			name: "routes with spaces and a trailing comma",
			args: "-routes nats://a:1,~nats://b:2,",
			want: options.Options{Seed: "nats://a:1", ExtraSeeds: []string{"nats://b:2"}},
		},
		{
			name: "route with credentials",
			args: "-routes nats://u:p@a:1",
			want: options.Options{Seed: "nats://u:p@a:1"},
		},
		{
			name: "empty routes start a new mesh",
			args: "-routes=",
			want: options.Options{},
		},
		{
			name: "empty name means generated",
			args: "-n=",
			want: options.Options{},
		},
		{
			name: "later flag wins",
			args: "-p 1 --port 2",
			want: options.Options{Port: 2},
		},
		{
			name: "go-sockaddr template as addr",
			args: `-a {{~GetAllInterfaces~|~include~"flag"~"loopback"~|~include~"type"~"IPv4"~|~attr~"address"~}}`,
			want: options.Options{Host: `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(split(tt.args))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestFromArgsNormalize checks that the seed's commands give options that
// Normalize accepts, with the seed parsed.
func TestFromArgsNormalize(t *testing.T) {
	o, err := options.FromArgs(split("-p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248,nats://localhost:6248"))
	require.NoError(t, err)
	n, err := o.Normalize()
	require.NoError(t, err)
	assert.Equal(t, "localhost", n.ClusterHost)
	assert.Equal(t, 5248, n.ClusterPort)
	require.Len(t, n.Seeds, 2)
	assert.Equal(t, "localhost:4248", n.Seeds[0].Host)
	assert.Equal(t, "localhost:6248", n.Seeds[1].Host)
}

func TestFromArgsFieldErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		field   string
		value   string
		wantMsg string // further text the message must contain
	}{
		{name: "port not a number", args: "-p abc", field: "--port", value: "abc", wantMsg: "not a number"},
		{name: "port too high", args: "--port 65536", field: "--port", value: "65536", wantMsg: "65535"},
		{name: "port below -1", args: "-p -2", field: "--port", value: "-2", wantMsg: "-1"},
		{name: "port empty", args: "-p=", field: "--port", value: ""},
		{name: "routes scheme http", args: "--routes http://localhost:4248", field: "--routes", value: "http://localhost:4248", wantMsg: `scheme "http"`},
		{name: "second route bad", args: "-routes nats://a:1,http://b:2", field: "--routes", value: "http://b:2", wantMsg: "http"},
		{name: "route without port", args: "--routes nats://localhost", field: "--routes", value: "nats://localhost", wantMsg: "port"},
		{name: "route without scheme", args: "-routes localhost:4248", field: "--routes", value: "localhost:4248", wantMsg: "scheme"},
		{name: "cluster without scheme", args: "-cluster localhost:4248", field: "--cluster", value: "localhost:4248", wantMsg: "nats://"},
		{name: "cluster scheme http", args: "-cluster http://localhost:4248", field: "--cluster", value: "http://localhost:4248", wantMsg: `scheme "http"`},
		{name: "cluster without port", args: "-cluster nats://localhost", field: "--cluster", value: "nats://localhost", wantMsg: "port"},
		{name: "cluster port too high", args: "-cluster nats://localhost:70000", field: "--cluster", value: "nats://localhost:70000", wantMsg: "70000"},
		{name: "cluster port not a number", args: "-cluster nats://localhost:x", field: "--cluster", value: "nats://localhost:x", wantMsg: "port"},
		{name: "cluster with credentials", args: "-cluster nats://u:p@localhost:4248", field: "--cluster", value: "nats://u:xxxxx@localhost:4248", wantMsg: "password"},
		{name: "cluster with path", args: "-cluster nats://localhost:4248/x", field: "--cluster", value: "nats://localhost:4248/x", wantMsg: "path"},
		{name: "cluster bad host", args: "-cluster nats://bad!host:4248", field: "--cluster", value: "nats://bad!host:4248"},
		{name: "cluster empty", args: "-cluster=", field: "--cluster", value: ""},
		{name: "cluster_name empty", args: "--cluster_name=", field: "--cluster_name", value: "", wantMsg: "empty"},
		{name: "cluster_name with space", args: "--cluster_name a~b", field: "--cluster_name", value: "a b", wantMsg: "space"},
		{name: "name with space", args: "-n a~b", field: "--name", value: "a b", wantMsg: "space"},
		{name: "addr bad host", args: "-a bad!host", field: "--addr", value: "bad!host"},
		{name: "addr host and port", args: "--addr localhost:4222", field: "--addr", value: "localhost:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(split(tt.args))
			require.Error(t, err)
			assert.Zero(t, got)
			assert.ErrorIs(t, err, options.ErrInvalid)
			var fe *options.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.Equal(t, tt.value, fe.Value)
			msg := err.Error()
			assert.Contains(t, msg, tt.field)
			assert.Contains(t, msg, fmt.Sprintf("%q", tt.value))
			assert.Contains(t, msg, tt.wantMsg)
		})
	}
}

func TestFromArgsOtherErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     string
		wantHelp bool
		wantMsg  string
	}{
		{name: "-h", args: "-h", wantHelp: true},
		{name: "--help", args: "--help", wantHelp: true},
		{name: "-help after flags", args: "-p 4222 -help", wantHelp: true},
		{name: "unknown flag", args: "-p 4222 --no_such_flag", wantMsg: "-no_such_flag"},
		{name: "unknown nats-server flag", args: "-c nats.conf", wantMsg: "-c"},
		{name: "stray argument", args: "-p 4222 extra", wantMsg: `"extra"`},
		{name: "stray argument after --", args: "-p 4222 -- -x", wantMsg: `"-x"`},
		{name: "flag without value", args: "-p 4222 -cluster", wantMsg: "-cluster"},
		{name: "routes without value", args: "-routes", wantMsg: "-routes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(split(tt.args))
			require.Error(t, err)
			assert.Zero(t, got)
			if tt.wantHelp {
				assert.ErrorIs(t, err, flag.ErrHelp)
				assert.NotErrorIs(t, err, options.ErrInvalid)
				return
			}
			assert.NotErrorIs(t, err, flag.ErrHelp)
			assert.ErrorIs(t, err, options.ErrInvalid)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

// TestFromArgsSeveralErrors checks that every bad flag is reported, not only
// the first.
func TestFromArgsSeveralErrors(t *testing.T) {
	_, err := options.FromArgs(split("-p 99999 -cluster http://x:1 --cluster_name="))
	require.Error(t, err)
	assert.ErrorIs(t, err, options.ErrInvalid)
	var fe *options.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "--port", fe.Field)
	for _, s := range []string{"--port", "99999", "--cluster", "http://x:1", "--cluster_name"} {
		assert.Contains(t, err.Error(), s)
	}
}

func TestUsage(t *testing.T) {
	words := map[string]bool{}
	for _, w := range strings.Fields(options.Usage()) {
		words[strings.TrimSuffix(w, ",")] = true
	}
	for _, f := range []string{
		"-n", "--name", "--server_name", "-a", "--addr", "--net", "-p", "--port",
		"--cluster", "--cluster_listen", "--cluster_name", "--routes", "-h", "--help",
		"--client_advertise", "--cluster_advertise", "-m", "--http_port",
	} {
		t.Run(f, func(t *testing.T) {
			assert.True(t, words[f], "Usage does not list %s", f)
		})
	}
}

// split turns a command line into arguments at spaces; a tilde stands for
// a space inside one argument.
func split(s string) []string {
	if s == "" {
		return nil
	}
	args := strings.Fields(s)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "~", " ")
	}
	return args
}

// TestFromArgsAdvertiseAndMonitor covers the flags for meshes that span
// hosts and for monitoring.
func TestFromArgsAdvertiseAndMonitor(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want options.Options
	}{
		{"advertise", []string{"-a", "0.0.0.0", "--client_advertise", "10.0.0.5", "--cluster_advertise", "10.0.0.5:4248"},
			options.Options{Host: "0.0.0.0", ClientAdvertise: "10.0.0.5", ClusterAdvertise: "10.0.0.5:4248"}},
		{"monitor", []string{"-m", "8222"}, options.Options{Monitor: true, MonitorPort: 8222}},
		{"monitor free port", []string{"--http_port", "-1"}, options.Options{Monitor: true}},
		{"template in cluster URL", []string{"--cluster", `nats://{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}:4248`},
			options.Options{ClusterHost: "127.0.0.1", ClusterPort: 4248}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(tt.args)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := options.FromArgs([]string{"--cluster_advertise", "0.0.0.0:4248"})
	require.ErrorIs(t, err, options.ErrInvalid)
	assert.ErrorContains(t, err, "--cluster_advertise")
}
