package natsmesh_test

import (
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// errorLines returns the ERROR lines of a text log.
func errorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// foreign reports an error line about a client this test did not make: on
// a machine running other test processes, a client of theirs reconnecting
// to a port one of our nodes now uses fails to authenticate there.
func foreign(l string) bool { return strings.Contains(l, "authentication error") }

// TestNoErrorsInAHealthyLife: a mesh's ordinary life logs no error: three
// nodes form, clients come and go (in process, over TCP, and one cut short
// by the node's end), a stock nats-server joins (and asks for the
// dedicated system-account route a natsmesh node declines) and leaves, a
// node leaves and one shuts down. Everything goes through Options.Logger.
func TestNoErrorsInAHealthyLife(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: levelTraceForTests}))
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

// levelTraceForTests is below slog.LevelDebug, so a test log sees every
// line.
const levelTraceForTests = slog.LevelDebug - 4

// TestUserErrorsAreErrors: what the user must fix is still an error: a
// seed nobody listens on.
func TestUserErrorsAreErrors(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "nats://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	startNode(t, options.Options{Seed: dead, Logger: logger})
	eventually(t, "an error about the seed", func() bool {
		for _, l := range errorLines(logs.String()) {
			if strings.Contains(l, strings.TrimPrefix(dead, "nats://")) {
				return true
			}
		}
		return false
	})
}

// TestStartRefusesWhatServerWould: option combinations nats-server refuses
// once started are refused by Start first, as field errors, with nothing
// left listening.
func TestStartRefusesWhatServerWould(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	tests := []struct {
		name  string
		opts  options.Options
		field string
	}{
		{"port is cluster port", options.Options{Port: port, ClusterPort: port}, "ClusterPort"},
		{"monitor port is client port", options.Options{Port: port, Monitor: true, MonitorPort: port}, "MonitorPort"},
		{"lame duck too short for a grace period", options.Options{LameDuckDuration: 1}, "LameDuckDuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := mesh.Start(tt.opts)
			require.Error(t, err)
			assert.Nil(t, n)
			assert.ErrorIs(t, err, options.ErrInvalid)
			assert.NotErrorIs(t, err, mesh.ErrServer)
			var fe *options.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.True(t, portFree(port), "port %d left listening", port)
		})
	}
}
