package mesh

import (
	"log/slog"
	"testing"
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
