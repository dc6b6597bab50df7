package address_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/address"
)

// loopbackV4 is a template that yields 127.0.0.1 on any machine with an
// IPv4 loopback interface, whatever it is called (lo, lo0).
const loopbackV4 = `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`

func TestResolveHost(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want string
	}{
		{name: "empty", spec: "", want: ""},
		{name: "blank", spec: "  ", want: ""},
		{name: "IPv4", spec: "10.0.0.5", want: "10.0.0.5"},
		{name: "IPv4 any", spec: "0.0.0.0", want: "0.0.0.0"},
		{name: "IPv4 with spaces around", spec: " 127.0.0.1 ", want: "127.0.0.1"},
		{name: "IPv6", spec: "::1", want: "::1"},
		{name: "IPv6 in brackets", spec: "[::1]", want: "::1"},
		{name: "IPv6 long form is shortened", spec: "[fd00:0:0:0:0:0:0:2]", want: "fd00::2"},
		{name: "IPv6 any", spec: "[::]", want: "::"},
		{name: "localhost", spec: "localhost", want: "localhost"},
		{name: "host name", spec: "node-1.example.com", want: "node-1.example.com"},
		{name: "host name with trailing dot", spec: "example.com.", want: "example.com."},
		{name: "DNS service name", spec: "_nats._tcp.example.com", want: "_nats._tcp.example.com"},
		{name: "template for loopback", spec: loopbackV4, want: "127.0.0.1"},
		{name: "template without spaces", spec: `{{GetAllInterfaces|include "flag" "loopback"|include "type" "IPv4"|attr "address"}}`, want: "127.0.0.1"},
		{name: "template of a literal", spec: `{{ "10.0.0.7" }}`, want: "10.0.0.7"},
		{name: "template of a host name", spec: `{{ "localhost" }}`, want: "localhost"},
		{name: "template text around", spec: `  {{ "10.0.0.7" }}  `, want: "10.0.0.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := address.ResolveHost(tt.spec)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestResolveHostErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		wantMsg []string // the message contains each
	}{
		{name: "space in host name", spec: "bad host", wantMsg: []string{`"bad host"`, "neither"}},
		{name: "bad character", spec: "bad!host", wantMsg: []string{`"bad!host"`}},
		{name: "empty label", spec: "a..b", wantMsg: []string{`"a..b"`}},
		{name: "host and port", spec: "localhost:4222", wantMsg: []string{`"localhost:4222"`}},
		{name: "IPv4 and port", spec: "127.0.0.1:4222", wantMsg: []string{`"127.0.0.1:4222"`}},
		{name: "URL", spec: "nats://localhost", wantMsg: []string{`"nats://localhost"`}},
		{name: "label too long", spec: strings.Repeat("a", 64) + ".com", wantMsg: []string{"neither"}},
		{name: "name too long", spec: strings.Repeat("a.", 127) + "ab", wantMsg: []string{"neither"}},
		{
			name:    "template yielding none",
			spec:    `{{ GetAllInterfaces | include "name" "nonexistent0" | attr "address" }}`,
			wantMsg: []string{`include \"name\" \"nonexistent0\"`, "no address"},
		},
		{
			name:    "template of an empty string",
			spec:    `{{ "" }}`,
			wantMsg: []string{`{{ \"\" }}`, "no address"},
		},
		{
			name:    "template yielding two",
			spec:    `{{ "127.0.0.1" }} {{ "127.0.0.2" }}`,
			wantMsg: []string{`{{ \"127.0.0.1\" }} {{ \"127.0.0.2\" }}`, "yielded 2 addresses (127.0.0.1 127.0.0.2)", "narrow"},
		},
		{
			name:    "template joining one interface twice",
			spec:    loopbackV4 + " " + loopbackV4,
			wantMsg: []string{"GetAllInterfaces", "yielded 2 addresses (127.0.0.1 127.0.0.1)"},
		},
		{
			name:    "template yielding a bad host",
			spec:    `{{ "bad!host" }}`,
			wantMsg: []string{`{{ \"bad!host\" }}`, "neither"},
		},
		{
			name:    "template with an unknown function",
			spec:    `{{ GetNoSuchThing }}`,
			wantMsg: []string{`template "{{ GetNoSuchThing }}"`, "not defined"},
		},
		{
			name:    "template with a bad selector",
			spec:    `{{ GetAllInterfaces | include "colour" "red" | attr "address" }}`,
			wantMsg: []string{`include \"colour\" \"red\"`, "colour"},
		},
		{
			name:    "unclosed template",
			spec:    `{{ GetPrivateIP`,
			wantMsg: []string{`template "{{ GetPrivateIP"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := address.ResolveHost(tt.spec)
			require.Error(t, err)
			assert.Empty(t, got)
			assert.ErrorIs(t, err, address.ErrAddress)
			for _, m := range tt.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

// TestResolveHostLoopbackInterface shows what go-sockaddr makes of the
// loopback interface: attr takes the first address of the list, join takes
// them all, and GetInterfaceIP skips loopback addresses altogether (it keeps
// only forwardable ones), so `{{ GetInterfaceIP "lo" }}` yields nothing.
func TestResolveHostLoopbackInterface(t *testing.T) {
	const all = `{{ GetAllInterfaces | include "flag" "loopback" | join "address" " " }}`
	t.Run("GetInterfaceIP skips loopback", func(t *testing.T) {
		lo := loopbackName(t)
		_, err := address.ResolveHost(`{{ GetInterfaceIP "` + lo + `" }}`)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no address")
	})
	t.Run("join yields every loopback address", func(t *testing.T) {
		got, err := address.ResolveHost(all)
		if err == nil {
			// A machine whose loopback has only 127.0.0.1 (no ::1).
			assert.Equal(t, "127.0.0.1", got)
			return
		}
		assert.ErrorIs(t, err, address.ErrAddress)
		assert.Contains(t, err.Error(), "127.0.0.1")
		assert.Contains(t, err.Error(), "narrow it to one")
	})
}

// loopbackName returns the name of the loopback interface (lo on Linux, lo0
// on BSDs and macOS), as go-sockaddr sees it.
func loopbackName(t *testing.T) string {
	t.Helper()
	name, err := address.ResolveHost(`{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "name" }}`)
	require.NoError(t, err)
	require.NotEmpty(t, name)
	return name
}

func TestResolveAdvertise(t *testing.T) {
	tests := []struct {
		spec string
		host string
		port int
		bad  string // a substring of the error; "" for none
	}{
		{spec: "", host: "", port: 0},
		{spec: "  ", host: "", port: 0},
		{spec: "10.0.0.5", host: "10.0.0.5"},
		{spec: "10.0.0.5:4248", host: "10.0.0.5", port: 4248},
		{spec: "nats.example.com:1", host: "nats.example.com", port: 1},
		{spec: "[::1]:65535", host: "::1", port: 65535},
		{spec: "::1", host: "::1"},
		{spec: loopbackV4 + ":4248", host: "127.0.0.1", port: 4248},
		{spec: "h:0", bad: `port "0"`},
		{spec: "h:65536", bad: `port "65536"`},
		{spec: "h:x", bad: `port "x"`},
		{spec: "0.0.0.0", bad: "wildcard"},
		{spec: "[::]:4248", bad: "wildcard"},
		{spec: "bad!host", bad: "neither"},
		{spec: "{{ nope }}", bad: "template"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			host, port, err := address.ResolveAdvertise(tt.spec)
			if tt.bad != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, address.ErrAddress)
				assert.Contains(t, err.Error(), tt.bad)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.host, host)
			assert.Equal(t, tt.port, port)
		})
	}
}
