package mesh

import (
	"errors"
	"log/slog"
	"net/url"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
)

func TestJetStreamLevel(t *testing.T) {
	tests := []struct {
		level           slog.Level
		format          string
		v               []any
		decommissioning bool
		want            slog.Level
	}{
		{slog.LevelWarn, "Metalayer blocking snapshot starting", nil, false, slog.LevelInfo},
		{slog.LevelWarn, "%s", []any{"Metalayer blocking snapshot took 0.004s (streams: 1)"}, false, slog.LevelInfo},
		{slog.LevelWarn, "Error snapshotting JetStream cluster state: %v", []any{"raft: snapshot can not be installed while catchups running"}, false, slog.LevelInfo},
		{slog.LevelWarn, "Error snapshotting JetStream cluster state: %v", []any{"disk full"}, false, slog.LevelWarn},
		{slog.LevelWarn, "JetStream cluster stream '%s > %s' has NO quorum, stalled", []any{"$G", "S"}, false, slog.LevelWarn},
		{slog.LevelError, decommissionedJetStream, nil, true, slog.LevelInfo},
		{slog.LevelError, decommissionedJetStream, nil, false, slog.LevelError},
		{slog.LevelInfo, "Waiting for routing to be established...", nil, false, slog.LevelInfo},
	}
	for _, tt := range tests {
		if got := jetStreamLevel(tt.level, tt.format, tt.v, tt.decommissioning); got != tt.want {
			t.Errorf("jetStreamLevel(%v, %q, %v, %v) = %v, want %v", tt.level, tt.format, tt.v, tt.decommissioning, got, tt.want)
		}
	}
}

// TestDialledPeerHungUp: a route handshake to a peer's route address that
// the peer hung up (reset, EOF) is no refusal; one from an unknown address
// (a probe), one to a seed, and one refused with a TLS alert are.
func TestDialledPeerHungUp(t *testing.T) {
	t.Parallel()
	assert.Equal(t, cueConnReset, syscall.ECONNRESET.Error(), "the OS's words for a reset")
	l := newServerLog(nil, "a", nil)
	l.setPeerRoutes([]string{"127.0.0.1:45247", "[::1]:45247", "127.0.0.1:4300"})
	l.setSeeds([]*url.URL{{Scheme: "nats", Host: "127.0.0.1:4300"}})
	for _, tt := range []struct {
		name string
		msg  string
		want bool
	}{
		{"dialled, reset", "127.0.0.1:45247 - rid:9 - TLS route handshake error: read tcp 127.0.0.1:57538->127.0.0.1:45247: read: connection reset by peer", true},
		{"dialled, EOF", "127.0.0.1:45247 - rid:9 - TLS route handshake error: EOF", true},
		{"dialled ipv6, EOF", "[::1]:45247 - rid:9 - TLS route handshake error: read tcp [::1]:57538->[::1]:45247: EOF", true},
		{"accepted (from an unknown address), reset", "127.0.0.1:57538 - rid:9 - TLS route handshake error: read tcp 127.0.0.1:4248->127.0.0.1:57538: read: connection reset by peer", false},
		{"dialled seed, reset", "127.0.0.1:4300 - rid:9 - TLS route handshake error: read tcp 127.0.0.1:57538->127.0.0.1:4300: read: connection reset by peer", false},
		{"dialled, refused", "127.0.0.1:45247 - rid:9 - TLS route handshake error: remote error: tls: bad certificate", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, l.dialledPeerHungUp(tt.msg))
		})
	}
}

// TestFatalWhileStopping: nats-server logs a fatal error that comes while
// it shuts down as Errorf(format, v), its arguments in one slice; the line
// reads as nats-server meant it. While a failed Start takes its server
// down, such lines (the failure is Start's error) are debug, not errors.
func TestFatalWhileStopping(t *testing.T) {
	tests := []struct {
		name     string
		aborting bool
		want     string
	}{
		{"running", false, "level=ERROR"},
		{"a failed start aborting", true, "level=DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			l := newServerLog(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), "a", nil)
			l.aborting.Store(tt.aborting)
			args := []any{4248, errors.New("bind: address already in use")}
			l.Errorf("Error listening on router port: %d - %v", args)
			out := logs.String()
			assert.Contains(t, out, `msg="Error listening on router port: 4248 - bind: address already in use"`)
			assert.Contains(t, out, tt.want)
		})
	}
}
