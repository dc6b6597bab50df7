package mesh

import (
	"log/slog"
	"testing"

	"github.com/natsmesh/natsmesh/options"
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

// TestNodeID checks nodeID against nats-server's own: WaitForJetStream
// recognises meta-group members by it.
func TestNodeID(t *testing.T) {
	n, err := Start(options.Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if got, want := nodeID(n.Name()), n.srv.Node(); got != want {
		t.Errorf("nodeID(%q) = %q, nats-server says %q", n.Name(), got, want)
	}
}
