package natsmesh_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// End-to-end tests of the public API on small meshes (mostly three nodes,
// table-driven where cases share a shape): formation, zero and bad
// options, messages across nodes, advertised addresses, WaitForPeers and
// WaitForInterest.
//
// Where the other root tests live, one file per behaviour:
//   - membership_test.go: PeerJoined/PeerLeft, leave reasons, names, rejoin
//   - lifecycle_test.go: a node's end (Shutdown, Leave), what Leave costs clients
//   - failure_test.go: failure detection (silent, busy peers), route healing
//   - hooks_test.go: client, route-error and traffic hooks; monitoring
//   - seeds_test.go: seeds, seed providers, the peers file
//   - security_test.go: secrets, route TLS, client auth, no secret in output
//   - jetstream_test.go, jetstream_noloss_test.go: JetStream; no acked loss
//   - logging_test.go: what is logged, at which level
//   - chaos_test.go: a mesh under random kills, restarts and faults
//   - netns_test.go: several hosts (network namespaces), needs root
//   - helpers_test.go: the shared helpers (startNode, startTrio, recorder,
//     clusterName, eventually, binary, startProcess, startJS, jsWriter, ...)

// TestFormation: nodes given only the first node's route URL become a full
// mesh, and each lists every other node once, with its addresses.
func TestFormation(t *testing.T) {
	tests := []struct {
		name  string
		nodes int
		opts  func(t *testing.T, i int) options.Options
	}{
		{"zero options but the seed (and the test's cluster name)", 3, func(*testing.T, int) options.Options { return options.Options{} }},
		{"named, free ports", 3, func(_ *testing.T, i int) options.Options {
			return options.Options{Name: meshtest.Name(i), Cluster: "orders"}
		}},
		{"fixed ports", 3, func(t *testing.T, i int) options.Options {
			return options.Options{Name: meshtest.Name(i), Port: freePort(t), ClusterPort: freePort(t)}
		}},
		{"five nodes", 5, func(_ *testing.T, i int) options.Options {
			return options.Options{Name: meshtest.Name(i)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nodes []*mesh.Node
			for i := range tt.nodes {
				o := tt.opts(t, i)
				if i > 0 {
					o.Seed = nodes[0].ClusterURL()
				}
				n, _ := startNode(t, o)
				nodes = append(nodes, n)
			}
			for _, n := range nodes {
				require.NoError(t, n.WaitForPeers(ctxFor(t), tt.nodes-1))
			}
			for _, n := range nodes {
				peers := n.Peers()
				require.Len(t, peers, tt.nodes-1, "peers of %s", n.Name())
				seen := map[string]bool{}
				for _, p := range peers {
					assert.False(t, seen[p.ID], "%s listed twice by %s", p.Name, n.Name())
					seen[p.ID] = true
					assert.NotEqual(t, n.ID(), p.ID, "%s lists itself", n.Name())
					other := byID(nodes, p.ID)
					require.NotNil(t, other, "%s lists unknown peer %s", n.Name(), p)
					assert.Equal(t, other.Name(), p.Name)
					assert.Equal(t, other.ClusterURL(), p.ClusterURL)
					assert.Equal(t, []string{other.ClientURL()}, p.ClientURLs)
				}
			}
		})
	}
}

// TestZeroOptions: the zero Options is a working node on loopback.
func TestZeroOptions(t *testing.T) {
	n, err := mesh.Start(options.Options{})
	require.NoError(t, err)
	defer n.Shutdown()
	assert.True(t, strings.HasPrefix(n.Name(), "node-"), n.Name())
	assert.True(t, strings.HasPrefix(n.ClientURL(), "nats://127.0.0.1:"), n.ClientURL())
	assert.True(t, strings.HasPrefix(n.ClusterURL(), "nats://127.0.0.1:"), n.ClusterURL())
	// The other tests give their nodes a cluster name of their own
	// (clusterName); this one pins the default.
	assert.Equal(t, options.DefaultCluster, n.Server().ClusterName())
	nc, err := nats.Connect(n.ClientURL())
	require.NoError(t, err)
	nc.Close()
}

// TestMessagesAcrossNodes: a subscriber on one node receives what a client
// of another node publishes, in every direction, over TCP and in process.
func TestMessagesAcrossNodes(t *testing.T) {
	c := meshtest.Start(t, 3)
	tcp := func(n *mesh.Node) (*nats.Conn, error) { return nats.Connect(n.ClientURL()) }
	inproc := func(n *mesh.Node) (*nats.Conn, error) { return n.Connect() }
	tests := []struct {
		name     string
		pub, sub int
		dial     func(*mesh.Node) (*nats.Conn, error)
	}{
		{"a to b over tcp", 0, 1, tcp},
		{"b to a over tcp", 1, 0, tcp},
		{"b to c over tcp", 1, 2, tcp},
		{"c to b in process", 2, 1, inproc},
		{"a to c in process", 0, 2, inproc},
		{"c to a in process", 2, 0, inproc},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject := fmt.Sprintf("across.%d", i)
			sub, err := tt.dial(c.Nodes[tt.sub])
			require.NoError(t, err)
			defer sub.Close()
			got, err := sub.SubscribeSync(subject)
			require.NoError(t, err)
			require.NoError(t, sub.Flush())
			require.NoError(t, c.Nodes[tt.pub].WaitForInterest(ctxFor(t), subject))

			pub, err := tt.dial(c.Nodes[tt.pub])
			require.NoError(t, err)
			defer pub.Close()
			require.NoError(t, pub.Publish(subject, []byte("hello")))
			m, err := got.NextMsg(waitTimeout)
			require.NoError(t, err)
			assert.Equal(t, "hello", string(m.Data))

			// Request/reply crosses back the other way.
			_, err = sub.Subscribe(subject+".echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
			require.NoError(t, err)
			require.NoError(t, sub.Flush())
			require.NoError(t, c.Nodes[tt.pub].WaitForInterest(ctxFor(t), subject+".echo"))
			reply, err := pub.Request(subject+".echo", []byte("ping"), waitTimeout)
			require.NoError(t, err)
			assert.Equal(t, "ping", string(reply.Data))
		})
	}
}

// TestOneHopForwarding: a server forwards its clients' messages to its
// direct route peers only; a peer delivers them to its own clients and does
// not pass them on. So every subscriber gets each message exactly once, and
// the route between the two receiving nodes carries none of them.
func TestOneHopForwarding(t *testing.T) {
	c := meshtest.Start(t, 3)
	a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	const n = 200
	subs := map[string]*nats.Subscription{}
	for _, node := range []*mesh.Node{b, cc} {
		nc, err := nats.Connect(node.ClientURL())
		require.NoError(t, err)
		defer nc.Close()
		s, err := nc.SubscribeSync("hop")
		require.NoError(t, err)
		require.NoError(t, s.SetPendingLimits(-1, -1))
		require.NoError(t, nc.Flush())
		subs[node.Name()] = s
	}
	eventually(t, "a to know both subscribers", func() bool {
		return a.Server().GlobalAccount().Interest("hop") >= 2
	})

	before := routeMsgs(t, b, cc.ID())
	pub, err := a.Connect()
	require.NoError(t, err)
	defer pub.Close()
	for i := range n {
		require.NoError(t, pub.Publish("hop", []byte(strconv.Itoa(i))))
	}
	require.NoError(t, pub.Flush())

	for name, s := range subs {
		for i := range n {
			m, err := s.NextMsg(waitTimeout)
			require.NoError(t, err, "%s message %d", name, i)
			assert.Equal(t, strconv.Itoa(i), string(m.Data), "%s: order", name)
		}
		_, err := s.NextMsg(50 * time.Millisecond)
		assert.ErrorIs(t, err, nats.ErrTimeout, "%s received a duplicate", name)
	}
	after := routeMsgs(t, b, cc.ID())
	// The b-c route carries only the system account's own chatter.
	assert.Less(t, after-before, int64(n/2), "b forwarded a's messages to c")
}

// routeMsgs returns how many messages node sent on its routes to peer id.
func routeMsgs(t *testing.T, node *mesh.Node, id string) int64 {
	t.Helper()
	rz, err := node.Server().Routez(nil)
	require.NoError(t, err)
	var out int64
	for _, r := range rz.Routes {
		if r.RemoteID == id {
			out += r.OutMsgs
		}
	}
	return out
}

// TestBadInput: Start refuses bad options with an error naming the field
// and the value, panics on nothing, leaves nothing running, and reports
// the failure once: as its error, with no error logged besides.
func TestBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name    string
		opts    options.Options
		invalid bool     // matches options.ErrInvalid
		want    []string // substrings of the message
	}{
		{"seed without scheme", options.Options{Seed: "localhost:4248"}, true, []string{"Seed", "localhost:4248", "scheme"}},
		{"seed with http scheme", options.Options{Seed: "http://localhost:4248"}, true, []string{"Seed", "http"}},
		{"seed without port", options.Options{Seed: "nats://localhost"}, true, []string{"Seed", "nats://localhost"}},
		{"seed password is masked", options.Options{Seed: "nats://u:secret@localhost"}, true, []string{"Seed", "xxxxx"}},
		{"extra seed", options.Options{ExtraSeeds: []string{"nats://ok:1", "bad"}}, true, []string{"ExtraSeeds[1]", "bad"}},
		{"negative port", options.Options{Port: -3}, true, []string{"Port", "-3"}},
		{"port above 65535", options.Options{Port: 70000}, true, []string{"Port", "70000"}},
		{"negative cluster port", options.Options{ClusterPort: -2}, true, []string{"ClusterPort", "-2"}},
		{"cluster port above 65535", options.Options{ClusterPort: 65536}, true, []string{"ClusterPort", "65536"}},
		{"port in use", options.Options{Port: busyPort}, true, []string{"Port", strconv.Itoa(busyPort), "in use"}},
		{"cluster port in use", options.Options{ClusterPort: busyPort}, true, []string{"ClusterPort", strconv.Itoa(busyPort)}},
		{"name with space", options.Options{Name: "my node"}, true, []string{"Name", "my node"}},
		{"cluster with space", options.Options{Cluster: "my cluster"}, true, []string{"Cluster", "my cluster"}},
		{"host not an address", options.Options{Host: "not a host!"}, true, []string{"Host", "not a host!"}},
		{"template yielding nothing", options.Options{Host: `{{ GetAllInterfaces | include "name" "nosuchif0" | attr "address" }}`}, true, []string{"Host", "no address"}},
		{"negative ping interval", options.Options{PingInterval: -time.Second}, true, []string{"PingInterval", "-1s"}},
		{"negative max pings", options.Options{MaxPingsOut: -1}, true, []string{"MaxPingsOut", "-1"}},
		// An address of no local interface cannot be bound (TEST-NET-3:
		// nothing is sent anywhere).
		{"host of no local interface", options.Options{Host: "203.0.113.1"}, true, []string{"Host", "203.0.113.1", "cannot listen"}},
		{"cluster host of no local interface", options.Options{ClusterHost: "203.0.113.1"}, true, []string{"ClusterHost", "203.0.113.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := noGoroutineLeak(t)
			var logs syncbuf.Buffer
			tt.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			n, err := mesh.Start(tt.opts)
			if n != nil {
				n.Shutdown()
			}
			require.Error(t, err)
			require.Nil(t, n)
			assert.Equal(t, tt.invalid, errors.Is(err, options.ErrInvalid), "errors.Is(err, ErrInvalid): %v", err)
			var fe *options.FieldError
			assert.Equal(t, tt.invalid, errors.As(err, &fe), "errors.As(err, *FieldError): %v", err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "secret")
			assert.NotContains(t, logs.String(), "level=ERROR", "the error is Start's to report")
			if tt.opts.Port > 0 && tt.opts.Port <= 65535 && tt.opts.Port != busyPort {
				assert.True(t, portFree(tt.opts.Port), "port %d left listening", tt.opts.Port)
			}
			check()
		})
	}
}

// TestWaitForPeersHonoursContext: WaitForPeers returns ctx's error.
func TestWaitForPeersHonoursContext(t *testing.T) {
	n, _ := startNode(t, options.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := n.WaitForPeers(ctx, 1)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "0 of 1")
}

// TestAdvertise: the advertised addresses are what the node reports, what
// its peers learn, what a peer that learns it by gossip dials and what
// clients are told, even when it binds every interface. b joins last,
// through a: a tells c about b, and c dials b where b advertises it can be
// reached (a proxy, named by a go-sockaddr template and a port).
func TestAdvertise(t *testing.T) {
	a, _ := startNode(t, options.Options{Name: "a"})
	c, _ := startNode(t, options.Options{Name: "c", Seed: a.ClusterURL()})
	require.NoError(t, c.WaitForPeers(ctxFor(t), 1))
	p := meshtest.NewProxy(t, "")
	proxyPort := mustPort(t, p.URL())
	b, _ := startNode(t, options.Options{
		Name: "b", Host: "0.0.0.0", Seed: a.ClusterURL(),
		ClientAdvertise:  "127.0.0.2",
		ClusterAdvertise: fmt.Sprintf(`{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}:%d`, proxyPort),
	})
	p.SetTarget(fmt.Sprintf("127.0.0.1:%d", b.Server().ClusterAddr().Port))
	for _, n := range []*mesh.Node{a, b, c} {
		require.NoError(t, n.WaitForPeers(ctxFor(t), 2))
	}
	assert.Equal(t, "nats://127.0.0.2:"+strconv.Itoa(mustPort(t, b.ClientURL())), b.ClientURL())
	assert.Equal(t, p.URL(), b.ClusterURL())
	for _, n := range []*mesh.Node{a, c} {
		peer, ok := peerNamed(n, "b")
		require.True(t, ok, "%s does not list b", n.Name())
		assert.Equal(t, b.ClusterURL(), peer.ClusterURL, "b as %s knows it", n.Name())
		assert.Equal(t, []string{b.ClientURL()}, peer.ClientURLs, "b as %s knows it", n.Name())
	}
	routes := routesTo(t, c, b.ID())
	require.NotEmpty(t, routes)
	for _, addr := range routes {
		assert.Equal(t, p.Addr(), addr, "c dialed b at its listen address, not at its ClusterAdvertise")
	}
	nc, err := nats.Connect(a.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	pollUntil(t, waitTimeout, "a's client to learn of the other servers", func() bool {
		return len(nc.DiscoveredServers()) >= 2
	})
	assert.Contains(t, nc.DiscoveredServers(), b.ClientURL(), "a's client is not told b's ClientAdvertise")

	_, err = mesh.Start(options.Options{ClusterAdvertise: "0.0.0.0:4248"})
	assert.ErrorIs(t, err, options.ErrInvalid)
	assert.ErrorContains(t, err, "ClusterAdvertise")
}

// TestWildcardBindWithoutAdvertise: a node bound to 0.0.0.0 that does not
// advertise is described to its peers with the address its route comes
// from, never 0.0.0.0.
func TestWildcardBindWithoutAdvertise(t *testing.T) {
	a, _ := startNode(t, options.Options{Name: "a"})
	b, _ := startNode(t, options.Options{Name: "b", Host: "0.0.0.0", Seed: a.ClusterURL()})
	require.NoError(t, a.WaitForPeers(ctxFor(t), 1))
	p := a.Peers()[0]
	assert.NotContains(t, p.ClusterURL, "0.0.0.0")
	assert.Equal(t, "nats://127.0.0.1:"+strconv.Itoa(mustPort(t, b.ClusterURL())), p.ClusterURL)
	require.Len(t, p.ClientURLs, 1)
	assert.NotContains(t, p.ClientURLs[0], "0.0.0.0")
}

// TestWaitForInterestWantsLiteralSubject: a wildcard would never match as
// a subject to publish on, so it is refused rather than waited for.
func TestWaitForInterestWantsLiteralSubject(t *testing.T) {
	n, _ := startNode(t, options.Options{})
	for _, subject := range []string{"orders.>", "orders.*", "", "a..b"} {
		assert.ErrorIs(t, n.WaitForInterest(ctxFor(t), subject), mesh.ErrSubject, subject)
	}
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
