package natsmesh_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// The message-flow hooks (ClientConnected, ClientDisconnected,
// SlowConsumer, AuthFailed, RouteError, Traffic) and the monitoring
// endpoint. The membership hooks (PeerJoined, PeerLeft) are tested in
// membership_test.go.

// TestClientHooks: a client's coming and going is reported once, with its
// identity and, on disconnect, the reason and message counts; clients of
// other nodes and the library's own connections are not reported.
func TestClientHooks(t *testing.T) {
	a, ra := startFlowNode(t, options.Options{Name: "a"})
	b, _ := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL()})
	require.NoError(t, a.WaitForPeers(ctxFor(t), 1))

	tests := []struct {
		name string
		dial func(name string) (*nats.Conn, error)
	}{
		{"tcp", func(name string) (*nats.Conn, error) { return nats.Connect(a.ClientURL(), nats.Name(name)) }},
		{"in process", func(name string) (*nats.Conn, error) { return a.Connect(nats.Name(name)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "client-" + strings.ReplaceAll(tt.name, " ", "-")
			nc, err := tt.dial(name)
			require.NoError(t, err)
			c := ra.find(t, "connect", func() []mesh.Client { return ra.connected }, name)
			assert.NotZero(t, c.ID)
			assert.Equal(t, "$G", c.Account)
			assert.Equal(t, "go", c.Lang)
			assert.False(t, c.ConnectedAt.IsZero())
			if tt.name == "tcp" {
				assert.Equal(t, "127.0.0.1", c.Host)
				assert.NotZero(t, c.Port, "the client's own port")
			}

			for range 3 {
				require.NoError(t, nc.Publish("flow", []byte("12345")))
			}
			require.NoError(t, nc.Flush())
			nc.Close()
			d := ra.find(t, "disconnect", func() []mesh.Client { return ra.gone }, name)
			assert.Equal(t, c.ID, d.ID)
			assert.Equal(t, c.Port, d.Port)
			assert.Equal(t, "Client Closed", d.Reason)
			assert.EqualValues(t, 3, d.MsgsIn)
			assert.EqualValues(t, 15, d.BytesIn)
			assert.False(t, d.DisconnectedAt.IsZero())
		})
	}

	// A client of b is b's business, not a's.
	nb, err := nats.Connect(b.ClientURL(), nats.Name("client-of-b"))
	require.NoError(t, err)
	nb.Close()
	marker, err := nats.Connect(a.ClientURL(), nats.Name("marker"))
	require.NoError(t, err)
	marker.Close()
	ra.find(t, "disconnect", func() []mesh.Client { return ra.gone }, "marker")
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for _, c := range append(ra.connected, ra.gone...) {
		assert.NotEqual(t, "client-of-b", c.Name)
		assert.False(t, strings.HasPrefix(c.Name, "natsmesh-internal"), "internal connection reported: %s", c)
	}
}

// TestSlowConsumerHook provokes a real slow consumer: a client that
// subscribes and then stops reading its socket while a publisher floods.
func TestSlowConsumerHook(t *testing.T) {
	a, ra := startFlowNode(t, options.Options{Name: "a", ServerOptions: func(o *server.Options) {
		o.MaxPending = 256 << 10 // the server drops a client 256 KiB behind
		o.MaxPayload = 64 << 10  // (which must not be below the largest message)
	}})

	conn, err := net.Dial("tcp", strings.TrimPrefix(a.ClientURL(), "nats://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4096))
	r := bufio.NewReader(conn)
	_, err = r.ReadString('\n') // INFO
	require.NoError(t, err)
	_, err = fmt.Fprintf(conn, "CONNECT {\"verbose\":false,\"name\":\"sluggish\"}\r\nSUB flood 1\r\nPING\r\n")
	require.NoError(t, err)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "PONG\r\n", line) // subscribed; from now on it never reads

	pub, err := a.Connect()
	require.NoError(t, err)
	defer pub.Close()
	payload := make([]byte, 16<<10)
	deadline := time.Now().Add(waitTimeout)
	for sent := 0; ; sent++ {
		ra.mu.Lock()
		n := len(ra.slow)
		ra.mu.Unlock()
		if n > 0 {
			t.Logf("slow consumer after %d messages of 16 KiB", sent)
			break
		}
		require.True(t, time.Now().Before(deadline), "no slow consumer reported")
		require.NoError(t, pub.Publish("flood", payload))
		if sent%64 == 0 {
			require.NoError(t, pub.Flush())
		}
	}
	c := ra.find(t, "slow consumer", func() []mesh.Client { return ra.slow }, "sluggish")
	assert.Contains(t, c.Reason, "Slow Consumer")
	d := ra.find(t, "disconnect", func() []mesh.Client { return ra.gone }, "sluggish")
	assert.Equal(t, c.Reason, d.Reason)
}

// TestAuthFailedHook: a client with credentials the node does not know is
// refused and reported; its password never reaches the log.
func TestAuthFailedHook(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: levelTrace}))
	a, ra := startFlowNode(t, options.Options{Name: "a", Logger: logger})
	_, err := nats.Connect(a.ClientURL(), nats.Name("intruder"), nats.UserInfo("mallory", "hunter2-secret"))
	require.Error(t, err)
	c := ra.find(t, "auth failure", func() []mesh.Client { return ra.authFailed }, "intruder")
	assert.Contains(t, c.Reason, "Authentication")
	assert.Equal(t, "mallory", c.User)
	assert.Contains(t, logs.String(), "Authorization Violation")
	assert.NotContains(t, logs.String(), "hunter2-secret")
}

// TestRouteErrorHook: a client dialling the route port is reported.
func TestRouteErrorHook(t *testing.T) {
	a, ra := startFlowNode(t, options.Options{Name: "a"})
	// The route port refuses the client; nats.go then quietly moves to a
	// client URL the route's INFO told it about, so Connect may succeed.
	nc, err := nats.Connect(a.ClusterURL(), nats.NoReconnect(), nats.Timeout(2*time.Second))
	if err == nil {
		nc.Close()
	}
	eventually(t, "a route error about the route port", func() bool {
		ra.mu.Lock()
		defer ra.mu.Unlock()
		for _, e := range ra.routeErrors {
			if strings.Contains(e.Message, "route port") && strings.HasPrefix(e.Remote, "127.0.0.1:") && !e.Warning {
				return true
			}
		}
		return false
	})
}

// TestTrafficHook: samples count each peer's traffic in its direction:
// what a's client publishes is counted by a as from clients and to b and
// to c, and by b and by c as from a. (That b passes none of it on to c,
// one-hop forwarding itself, is TestOneHopForwarding's, measured on the
// same route counters through Routez.)
func TestTrafficHook(t *testing.T) {
	recs := make([]*recorder, 3)
	var nodes []*mesh.Node
	for i, name := range []string{"a", "b", "c"} {
		o := options.Options{Name: name, TrafficInterval: 20 * time.Millisecond}
		if i > 0 {
			o.Seed = nodes[0].ClusterURL()
		}
		n, r := startFlowNode(t, o)
		nodes, recs[i] = append(nodes, n), r
	}
	for _, n := range nodes {
		require.NoError(t, n.WaitForPeers(ctxFor(t), 2))
	}
	for _, n := range nodes[1:] {
		nc, err := nats.Connect(n.ClientURL())
		require.NoError(t, err)
		defer nc.Close()
		_, err = nc.Subscribe("hop", func(*nats.Msg) {})
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
	}
	eventually(t, "a to know both subscribers", func() bool {
		return nodes[0].Server().GlobalAccount().Interest("hop") >= 2
	})
	start := time.Now()
	pub, err := nats.Connect(nodes[0].ClientURL())
	require.NoError(t, err)
	defer pub.Close()
	const n = 500
	for range n {
		require.NoError(t, pub.Publish("hop", make([]byte, 100)))
	}
	require.NoError(t, pub.Flush())

	// Sum each node's samples taken after the publishing started.
	sum := func(r *recorder) (to, from map[string]int64, fromClients int64) {
		to, from = map[string]int64{}, map[string]int64{}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, s := range r.traffic {
			if s.End.Before(start) {
				continue
			}
			fromClients += s.FromClients.Msgs
			for _, p := range s.Peers {
				to[p.Peer.Name] += p.To.Msgs
				from[p.Peer.Name] += p.From.Msgs
			}
		}
		return to, from, fromClients
	}
	eventually(t, "a's samples to count the messages to b and c", func() bool {
		to, _, fromClients := sum(recs[0])
		return to["b"] >= n && to["c"] >= n && fromClients >= n
	})
	for _, r := range recs[1:] {
		eventually(t, "b's and c's samples to count the messages from a", func() bool {
			_, from, _ := sum(r)
			return from["a"] >= n
		})
	}
	recs[0].mu.Lock()
	s := recs[0].traffic[len(recs[0].traffic)-1]
	recs[0].mu.Unlock()
	assert.True(t, s.End.After(s.Start))
	assert.Len(t, s.Peers, 2)
}

// TestMonitoring: the standard HTTP monitoring endpoint answers as on a
// stock nats-server, and is off unless asked for.
func TestMonitoring(t *testing.T) {
	off, _ := startNode(t, options.Options{})
	assert.Empty(t, off.MonitorURL())

	a, _ := startNode(t, options.Options{Name: "a", Monitor: true})
	b, _ := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL()})
	require.NoError(t, a.WaitForPeers(ctxFor(t), 1))
	require.NotEmpty(t, a.MonitorURL())
	for _, path := range []string{"/varz", "/routez", "/connz", "/healthz"} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.MonitorURL()+path, nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			var doc map[string]any
			require.NoError(t, json.Unmarshal(body, &doc), string(body))
			if path == "/routez" {
				assert.Contains(t, string(body), b.ID())
			}
		})
	}
}
