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
// down, such lines (the failure is Start's error) are debug; other errors
// then are still errors.
func TestFatalWhileStopping(t *testing.T) {
	packed := []any{[]any{4248, errors.New("bind: address already in use")}}
	tests := []struct {
		name     string
		aborting bool
		args     []any
		want     string
	}{
		{"fatal while running", false, packed, "level=ERROR"},
		{"fatal while a failed start aborts", true, packed, "level=DEBUG"},
		{"other error while a failed start aborts", true, []any{4248, errors.New("bind: address already in use")}, "level=ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, logs := debugServerLog()
			l.aborting.Store(tt.aborting)
			l.Errorf("Error listening on router port: %d - %v", tt.args...)
			out := logs.String()
			assert.Contains(t, out, `msg="Error listening on router port: 4248 - bind: address already in use"`)
			assert.Contains(t, out, tt.want)
		})
	}
}

// TestFatalAfterFirst: the first fatal error goes to the node's watch (or
// Start), unlogged; a later one is debug while it is part of a failed
// Start's listeners (starting), and an error otherwise, also while a Start
// that failed after its listeners were up takes its server down: such a
// fatal did not cause that failure, and nothing else reports it.
func TestFatalAfterFirst(t *testing.T) {
	tests := []struct {
		name               string
		starting, aborting bool
		want               string
	}{
		{"listeners failing", true, false, "level=DEBUG"},
		{"listeners failed, aborting", true, true, "level=DEBUG"},
		{"running", false, false, "level=ERROR"},
		{"aborting after the listeners were up", false, true, "level=ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, logs := debugServerLog()
			l.starting.Store(tt.starting)
			l.aborting.Store(tt.aborting)
			l.Fatalf("first %d", 1)
			assert.Empty(t, logs.String(), "the first fatal error is reported by its reader")
			l.Fatalf("second %d", 2)
			assert.Contains(t, logs.String(), `msg="second 2"`)
			assert.Contains(t, logs.String(), tt.want)
			assert.Equal(t, "first 1", <-l.fatalCh)
		})
	}
}

// debugServerLog returns a serverLog of node "a" that writes every level,
// debug included, to the buffer it also returns.
func debugServerLog() (*serverLog, *syncbuf.Buffer) {
	logs := &syncbuf.Buffer{}
	return newServerLog(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), "a", nil), logs
}
