package mesh

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRawNodeURL: a node's URL from its options and listener address. A
// listener that is gone (a server stopped right after Start: its
// ClusterAddr is a nil *net.TCPAddr) gives port 0, not a panic.
func TestRawNodeURL(t *testing.T) {
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4248}
	tests := []struct {
		name, advertise, host string
		addr                  net.Addr
		want                  string
	}{
		{name: "listen address", host: "127.0.0.1", addr: tcp, want: "nats://127.0.0.1:4248"},
		{name: "wildcard kept", host: "0.0.0.0", addr: tcp, want: "nats://0.0.0.0:4248"},
		{name: "advertised host and port", advertise: "db1.example:5248", host: "0.0.0.0", addr: tcp, want: "nats://db1.example:5248"},
		{name: "advertised host only", advertise: "db1.example", host: "0.0.0.0", addr: tcp, want: "nats://db1.example:4248"},
		{name: "IPv6", host: "::1", addr: tcp, want: "nats://[::1]:4248"},
		{name: "listener gone", host: "127.0.0.1", addr: (*net.TCPAddr)(nil), want: "nats://127.0.0.1:0"},
		{name: "no listener", host: "127.0.0.1", addr: nil, want: "nats://127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, rawNodeURL(tt.advertise, tt.host, tt.addr))
		})
	}
}
