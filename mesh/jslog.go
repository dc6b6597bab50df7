package mesh

import (
	"fmt"
	"log/slog"
	"strings"
)

// jetStreamLevel returns the level to log a nats-server line at, given
// the level nats-server meant: routine JetStream warnings become info, and
// the removal of this node from the meta group is info while it
// decommissions.
func jetStreamLevel(level slog.Level, format string, v []any, decommissioning bool) slog.Level {
	if level != slog.LevelWarn && level != slog.LevelError {
		return level
	}
	msg := format
	if len(v) > 0 {
		msg = fmt.Sprintf(format, v...)
	}
	if level == slog.LevelError {
		if decommissioning && strings.HasPrefix(msg, decommissionedJetStream) {
			return slog.LevelInfo
		}
		return level
	}
	for _, p := range routineJetStream {
		if strings.HasPrefix(msg, p) {
			return slog.LevelInfo
		}
	}
	return level
}
