package mesh

import (
	"fmt"
	"log/slog"
	"strings"
)

// routineJetStream are the starts of warnings nats-server logs in the
// normal life of a clustered JetStream that grows, shrinks and restarts:
// a node waiting for its routes or for the meta leader while the mesh
// forms or catches up, meta-layer snapshots (taken every few seconds of
// activity, and put off while a peer catches up), a leader handing over
// before it stops. They are logged at info level, so
// that a healthy mesh logs no warning.
var routineJetStream = []string{
	"Waiting for routing to be established",
	"JetStream has not established contact with a meta leader",
	"Metalayer blocking snapshot starting",
	"Metalayer blocking snapshot took",
	"Metalayer async snapshot took",
	"Metalayer snapshot generation took",
	"JetStream initiating meta leader transfer",
	"Health check OK, no longer falling behind",
	"JetStream is not current with the meta leader",
	"JetStream is still recovering meta layer",
	"Error snapshotting JetStream cluster state: raft: snapshot can not be installed while catchups running",
}

// decommissionedJetStream is the error a node logs when it has been
// removed from the meta group, which it expects when it decommissions.
const decommissionedJetStream = "JetStream being DISABLED, our server was removed from the cluster"

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
