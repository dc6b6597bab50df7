package mesh

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/options"
)

// TestInternalLoginsStayInProcess: the node's own logins (its internal
// connections' and Connect's) work in process and nowhere else: a client
// that dials the client port with them is refused. Their passwords are not
// in the options ServerOptions is shown, nor in any log line at trace
// level.
func TestInternalLoginsStayInProcess(t *testing.T) {
	var logs syncbuf.Buffer
	var shown []*server.User
	n, err := Start(options.Options{
		Name:   "a",
		Users:  []options.User{{Name: "alice", Password: "alice-Pw-7xq"}},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: levelTrace})),
		ServerOptions: func(o *server.Options) {
			shown = append(shown, o.Users...)
		},
	})
	require.NoError(t, err)
	t.Cleanup(n.Shutdown)
	<-n.rtDone
	require.NotNil(t, n.sys, "the internal connections are up")

	nc, err := n.Connect()
	require.NoError(t, err, "Connect logs in with the node's own login")
	nc.Close()

	for _, l := range []login{n.creds, n.app} {
		require.NotEmpty(t, l.user)
		_, err := nats.Connect(n.ClientURL(), nats.UserInfo(l.user, l.pass), nats.NoReconnect())
		require.Error(t, err, "%s logged in over TCP", l.user)
		for _, u := range shown {
			assert.NotEqual(t, l.user, u.Username, "ServerOptions was shown an internal login")
		}
		assert.False(t, strings.Contains(logs.String(), l.pass), "an internal password is in the logs")
	}
	assert.Contains(t, logs.String(), "CONNECT", "trace lines are on")
}
