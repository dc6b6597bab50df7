package natsmesh_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/options"
)

// Logging: a healthy mesh logs no error (a stock nats-server in it
// included), and nats-server's lines arrive at the right level with the
// node's name. That what the user must fix is an error (a seed nobody
// listens on) is checked by TestSeedNotUpYet in seeds_test.go.

// foreign reports an error line about a connection this test did not
// make: on a machine running other tests, a client of theirs reconnecting
// to a port one of our nodes now uses fails to authenticate there, and a
// node of theirs redialling such a port is refused for its cluster name
// (every test's nodes have one of their own, see clusterName).
func foreign(l string) bool {
	return strings.Contains(l, "authentication error") || strings.Contains(l, "cluster name")
}

// TestNoErrorsInAHealthyLife: a mesh's ordinary life logs no error: three
// nodes form, clients come and go (in process, over TCP, and one cut short
// by the node's end), a stock nats-server joins (and asks for the
// dedicated system-account route a natsmesh node declines) and leaves, a
// node leaves and one shuts down. Everything goes through Options.Logger.
func TestNoErrorsInAHealthyLife(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: levelTrace}))
	nodes, _ := startTrio(t, func(o *options.Options) {
		o.Logger = logger
		o.LameDuckDuration = 200 * time.Millisecond
	})
	a, b, c := nodes[0], nodes[1], nodes[2]

	nc, err := b.Connect()
	require.NoError(t, err)
	nc.Close()
	tcp, err := nats.Connect(a.ClientURL())
	require.NoError(t, err)
	tcp.Close()

	stock := startProcess(t, binary(t, "nats-server"), "-n", "stock", "-a", "127.0.0.1", "-p", "-1",
		"--cluster_name", clusterName(t), "--cluster", "nats://127.0.0.1:-1", "--routes", a.ClusterURL())
	for _, n := range nodes {
		require.NoError(t, n.WaitForPeers(ctxFor(t), 3))
	}
	require.NoError(t, stock.cmd.Process.Signal(syscall.SIGTERM))
	_ = stock.wait(t)
	eventually(t, "the stock server gone", func() bool { return len(a.Peers()) == 2 })

	require.NoError(t, c.Leave(ctxFor(t)))
	b.Shutdown()
	eventually(t, "a alone", func() bool { return len(a.Peers()) == 0 })

	var errs []string
	for _, l := range errorLines(logs.String()) {
		if !foreign(l) {
			errs = append(errs, l)
		}
	}
	assert.Empty(t, errs, "a healthy life logged errors")
	assert.Contains(t, logs.String(), "dedicated route", "the stock server's dedicated-route request is still logged, as debug")
}

// TestLoggerLevels: nats-server's notices arrive at Info with the node's
// name; the node's own connections' debug chatter stays at Debug.
func TestLoggerLevels(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	startNode(t, options.Options{Name: "loud", Logger: logger})
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		assert.Equal(t, "loud", rec["node"])
		assert.NotEqual(t, "DEBUG", rec["level"])
		if strings.Contains(fmt.Sprint(rec["msg"]), "Listening for client connections") {
			found = true
			assert.Equal(t, "INFO", rec["level"])
		}
	}
	assert.True(t, found, "no 'Listening for client connections' line:\n%s", logs.String())
}
