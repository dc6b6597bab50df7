package natsmesh_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/internal/testpki"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// Security: a mesh sealed by a Secret (or the application's own PKI)
// keeps every other server out and nothing readable on its routes; Users,
// Token and SystemUser close the client port; no secret or password
// appears in any error, log line, hook value or monitoring page.

// refusalWait bounds how long a test waits to see an intruder refused:
// a refusal happens at the intruder's first dial, within milliseconds
// (a plain node's route times out after the 2 s TLS handshake timeout).
const refusalWait = 3 * time.Second

// TestSecretMesh: nodes sharing a secret mesh from one seed and carry
// messages both ways, with describe replies signed (peers know each
// other's addresses).
func TestSecretMesh(t *testing.T) {
	t.Parallel()
	c := meshtest.Start(t, 3, meshtest.WithSecret(options.NewSecret()))
	for _, n := range c.Nodes {
		for _, p := range n.Peers() {
			other := byID(c.Nodes, p.ID)
			require.NotNil(t, other)
			assert.Equal(t, other.ClusterURL(), p.ClusterURL, "%s's view of %s", n.Name(), p.Name)
			assert.Equal(t, []string{other.ClientURL()}, p.ClientURLs)
		}
	}
	roundTrip(t, c.Nodes[0], c.Nodes[2], "sealed.ab")
	roundTrip(t, c.Nodes[2], c.Nodes[1], "sealed.cb")
}

// roundTrip checks that a message published on from reaches a subscriber
// on to, both connected in process.
func roundTrip(t *testing.T, from, to *mesh.Node, subject string, opts ...nats.Option) {
	t.Helper()
	sub, err := to.Connect(opts...)
	require.NoError(t, err)
	defer sub.Close()
	s, err := sub.SubscribeSync(subject)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	require.NoError(t, from.WaitForInterest(ctxFor(t), subject))
	pub, err := from.Connect(opts...)
	require.NoError(t, err)
	defer pub.Close()
	require.NoError(t, pub.Publish(subject, []byte("payload of "+subject)))
	m, err := s.NextMsg(waitTimeout)
	require.NoError(t, err)
	assert.Equal(t, "payload of "+subject, string(m.Data))
}

// TestIntrudersKeptOut: whatever dials a sealed mesh's route port without
// a certificate of an accepted authority is refused at the TLS handshake:
// it never appears in Peers or a hook of any node, the refusing node
// reports it (once, however often the intruder redials), and a refused
// natsmesh node's WaitForPeers says why.
func TestIntrudersKeptOut(t *testing.T) {
	t.Parallel()
	current, retired := options.NewSecret(), options.NewSecret()
	tests := []struct {
		name string
		// start starts the intruder, seeded with seed; it returns a
		// WaitForPeers for natsmesh intruders (nil for stock servers).
		start     func(t *testing.T, seed string) func() error
		wantWhy   string // in the refusing node's report
		intruderW string // in the intruder's WaitForPeers error
	}{
		{"node without a secret", func(t *testing.T, seed string) func() error {
			return startIntruder(t, options.Options{Seed: seed})
		}, "", ""},
		{"node with another secret", func(t *testing.T, seed string) func() error {
			return startIntruder(t, options.Options{Seed: seed, Secret: options.NewSecret()})
		}, "certificate", "unknown authority"},
		{"node with the retired secret", func(t *testing.T, seed string) func() error {
			return startIntruder(t, options.Options{Seed: seed, Secret: retired, AcceptedSecrets: []string{current}})
		}, "certificate", "certificate"},
		{"stock nats-server without TLS", func(t *testing.T, seed string) func() error {
			startProcess(t, binary(t, "nats-server"), "-n", "intruder", "-a", "127.0.0.1", "-p", "-1",
				"--cluster_name", clusterName(t), "--cluster", "nats://127.0.0.1:-1", "--routes", seed)
			return nil
		}, "", ""},
		{"stock nats-server with another CA", func(t *testing.T, seed string) func() error {
			files, err := mesh.WriteStockRouteFiles(t.TempDir(), options.Options{Secret: options.NewSecret()}, "127.0.0.1")
			require.NoError(t, err)
			startStock(t, "intruder", files, seed)
			return nil
		}, "certificate", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var recs []*recorder
			var nodes []*mesh.Node
			for i := range 2 {
				rec := &recorder{}
				o := options.Options{Name: meshtest.Name(i), Cluster: clusterName(t), Secret: current, Logger: quietLogger()}
				if i > 0 {
					o.Seed = nodes[0].ClusterURL()
				}
				o.Hooks = rec.hooks()
				o.Hooks.RouteError = rec.routeError
				n, err := mesh.Start(o)
				require.NoError(t, err)
				t.Cleanup(n.Shutdown)
				rec.node.Store(n)
				recs, nodes = append(recs, rec), append(nodes, n)
			}
			require.NoError(t, nodes[1].WaitForPeers(ctxFor(t), 1))

			waitPeers := tt.start(t, nodes[0].ClusterURL())
			start := time.Now()
			pollUntil(t, refusalWait, "a refusal reported by a", func() bool { return len(recs[0].refused()) > 0 })
			if waitPeers != nil {
				err := waitPeers()
				require.Error(t, err)
				// A node without a secret is told nothing: its plain
				// route just times out at the other end.
				if tt.intruderW != "" {
					assert.Contains(t, err.Error(), "last route error")
					assert.Contains(t, err.Error(), tt.intruderW)
				}
			}
			// Two redials later (one a second), still one report: this
			// waits out an interval in which nothing may happen.
			time.Sleep(time.Until(start.Add(2200 * time.Millisecond)))
			refused := recs[0].refused()
			require.Len(t, refused, 1, "one report per remote host per minute: %v", refused)
			assert.Contains(t, refused[0].Message, tt.wantWhy)
			for i, n := range nodes {
				require.Len(t, n.Peers(), 1, "%s lets the intruder in", n.Name())
				assert.Equal(t, []string{"+" + nodes[1-i].Name()}, recs[i].snapshot())
			}
		})
	}
}

// startIntruder starts a natsmesh node expected to be refused, and
// returns its WaitForPeers with a short deadline.
func startIntruder(t *testing.T, o options.Options) func() error {
	t.Helper()
	o.Name, o.Logger = "intruder", quietLogger()
	n, err := mesh.Start(ownCluster(t, o))
	require.NoError(t, err)
	t.Cleanup(n.Shutdown)
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		return n.WaitForPeers(ctx, 1)
	}
}

// startStock starts a stock nats-server whose routes use files.
func startStock(t *testing.T, name string, files mesh.StockRouteFiles, seed string) *process {
	t.Helper()
	conf := filepath.Join(t.TempDir(), name+".conf")
	cfg := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:-1\ncluster {\n  name: %s\n  listen: 127.0.0.1:-1\n  routes: [%s]\n  %s}\n",
		name, clusterName(t), seed, files.ClusterTLS())
	require.NoError(t, os.WriteFile(conf, []byte(cfg), 0o600))
	return startProcess(t, binary(t, "nats-server"), "-c", conf)
}

// TestStockServerJoinsSealedMesh: a stock nats-server configured with the
// files WriteStockRouteFiles writes (verify on) joins a sealed mesh and
// carries messages both ways.
func TestStockServerJoinsSealedMesh(t *testing.T) {
	t.Parallel()
	secret := options.NewSecret()
	a, ra := startNode(t, options.Options{Name: "a", Secret: secret})
	b, rb := startNode(t, options.Options{Name: "b", Secret: secret, Seed: a.ClusterURL()})
	files, err := mesh.WriteStockRouteFiles(t.TempDir(), options.Options{Secret: secret}, "127.0.0.1")
	require.NoError(t, err)
	info, err := os.Stat(files.KeyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	for _, f := range []string{files.CAFile, files.CertFile, files.KeyFile} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.NotContains(t, string(data), secret)
	}
	startStock(t, "stock", files, a.ClusterURL())
	ra.waitEvent(t, "+stock")
	rb.waitEvent(t, "+stock") // learned from a by gossip: b dialled it

	var stockURL string
	for _, p := range a.Peers() {
		if p.Name == "stock" {
			require.Len(t, p.ClientURLs, 1)
			stockURL = p.ClientURLs[0]
		}
	}
	stock, err := nats.Connect(stockURL)
	require.NoError(t, err)
	defer stock.Close()
	require.Equal(t, "stock", stock.ConnectedServerName())

	// stock -> b
	sub, err := b.Connect()
	require.NoError(t, err)
	defer sub.Close()
	s, err := sub.SubscribeSync("interop.in")
	require.NoError(t, err)
	// Subscribed after interop.in on the same route: once stock knows
	// this responder, it knows the subscriber too.
	_, err = sub.Subscribe("interop.probe", func(m *nats.Msg) { _ = m.Respond(nil) })
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	eventually(t, "stock to see b's subscriber", func() bool {
		_, err := stock.Request("interop.probe", nil, 100*time.Millisecond)
		return err == nil
	})
	require.NoError(t, stock.Publish("interop.in", []byte("from stock")))
	m, err := s.NextMsg(waitTimeout)
	require.NoError(t, err)
	assert.Equal(t, "from stock", string(m.Data))

	// a -> stock
	s2, err := stock.SubscribeSync("interop.out")
	require.NoError(t, err)
	require.NoError(t, stock.Flush())
	require.NoError(t, a.WaitForInterest(ctxFor(t), "interop.out"))
	pub, err := a.Connect()
	require.NoError(t, err)
	defer pub.Close()
	require.NoError(t, pub.Publish("interop.out", []byte("to stock")))
	m, err = s2.NextMsg(waitTimeout)
	require.NoError(t, err)
	assert.Equal(t, "to stock", string(m.Data))
}

// TestRouteWireIsSealed: a relay on the route between two sealed nodes
// sees no payload, subject or protocol verb, only TLS records; the same
// relay on plain nodes sees them all (the check can fail).
func TestRouteWireIsSealed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		secret   string
		readable bool
	}{{"plain", "", true}, {"secret", options.NewSecret(), false}} {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := startNode(t, options.Options{Name: "a", Secret: tt.secret})
			relay := newRecordingRelay(t, strings.TrimPrefix(a.ClusterURL(), "nats://"))
			b, _ := startNode(t, options.Options{Name: "b", Secret: tt.secret, Seed: "nats://" + relay.addr})
			require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
			roundTrip(t, b, a, "wire.subject.confidential")
			roundTrip(t, a, b, "wire.subject.confidential")

			wire := relay.bytes()
			require.NotEmpty(t, wire)
			// Every marker is five bytes or more: TLS ciphertext is random
			// bytes, and a three-byte marker such as "RS+" turns up in a
			// sealed wire of ~12 KB about once in 1,400 runs (CI hit it).
			for _, secret := range []string{"payload of wire", "wire.subject.confidential", "RMSG $", "RS+ $G ", "PING\r\n", "CONNECT {", "INFO {", "$SYS.", `"name":`} {
				assert.Equal(t, tt.readable, bytes.Contains(wire, []byte(secret)), "%q on the wire", secret)
			}
			if !tt.readable {
				assert.Equal(t, byte(0x16), wire[0], "the route starts with a TLS handshake record")
			}
		})
	}
}

// recordingRelay forwards TCP connections to a target and keeps every
// byte it forwards, both ways.
type recordingRelay struct {
	addr string
	mu   sync.Mutex
	buf  bytes.Buffer
}

func newRecordingRelay(t *testing.T, target string) *recordingRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &recordingRelay{addr: l.Addr().String()}
	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	track := func(c net.Conn) {
		connsMu.Lock()
		conns = append(conns, c)
		connsMu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			for _, pair := range [][2]net.Conn{{in, out}, {out, in}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _ = io.Copy(pair[1], io.TeeReader(pair[0], r))
					pair[0].Close()
					pair[1].Close()
				}()
			}
		}
	}()
	return r
}

func (r *recordingRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recordingRelay) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// TestSecretRotation: rotation by rolling restarts. Two nodes mid-rotation
// (one using the new secret and accepting the old, one the other way round)
// mesh; a node with only the retired secret is refused once it is dropped.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	old, next := options.NewSecret(), options.NewSecret()
	tests := []struct {
		name     string
		a, b     options.Options
		wantMesh bool
	}{
		{"step 1: accept the new", options.Options{Secret: old, AcceptedSecrets: []string{next}}, options.Options{Secret: old}, true},
		{"step 2: mid-rotation", options.Options{Secret: next, AcceptedSecrets: []string{old}}, options.Options{Secret: old, AcceptedSecrets: []string{next}}, true},
		{"step 3: old dropped, straggler on the old", options.Options{Secret: next}, options.Options{Secret: old, AcceptedSecrets: []string{next}}, false},
		{"step 3: done", options.Options{Secret: next}, options.Options{Secret: next, AcceptedSecrets: []string{old}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.a.Name, tt.b.Name = "a", "b"
			tt.a.Logger, tt.b.Logger = quietLogger(), quietLogger()
			a, _ := startNode(t, tt.a)
			tt.b.Seed = a.ClusterURL()
			b, _ := startNode(t, tt.b)
			if tt.wantMesh {
				require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
				require.NoError(t, a.WaitForPeers(ctxFor(t), 1))
				roundTrip(t, a, b, "rotation")
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			err := b.WaitForPeers(ctx, 1)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "last route error")
			assert.Empty(t, a.Peers())
		})
	}
}

// TestRouteTLSOwnPKI: routes with the application's own certificates (made
// here at run time) mesh; a node whose certificate another CA signed is
// refused; Secret and RouteTLS together are a field error.
func TestRouteTLSOwnPKI(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	other := newTestPKI(t)
	a, _ := startNode(t, options.Options{Name: "a", RouteTLS: tlsConfig(t, pki, "a")})
	b, _ := startNode(t, options.Options{Name: "b", RouteTLS: tlsConfig(t, pki, "b"), Seed: a.ClusterURL()})
	c, _ := startNode(t, options.Options{Name: "c", RouteTLS: tlsConfig(t, pki, "c"), Seed: a.ClusterURL()})
	for _, n := range []*mesh.Node{a, b, c} {
		require.NoError(t, n.WaitForPeers(ctxFor(t), 2))
	}
	roundTrip(t, b, c, "pki")

	stranger, _ := startNode(t, options.Options{Name: "x", RouteTLS: tlsConfig(t, other, "x"), Seed: a.ClusterURL(), Logger: quietLogger()})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := stranger.WaitForPeers(ctx, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
	assert.Len(t, a.Peers(), 2)

	_, err = mesh.Start(options.Options{Secret: options.NewSecret(), RouteTLS: tlsConfig(t, pki, "y")})
	assert.ErrorIs(t, err, options.ErrInvalid)
	assert.ErrorContains(t, err, "RouteTLS")
}

// newTestPKI makes a CA at run time, for tests that bring their own PKI.
func newTestPKI(t *testing.T) *testpki.CA {
	t.Helper()
	ca, err := testpki.New("test CA")
	require.NoError(t, err)
	return ca
}

// tlsConfig returns a config with a certificate of ca for name (127.0.0.1
// and localhost), trusting ca.
func tlsConfig(t *testing.T, ca *testpki.CA, name string) *tls.Config {
	t.Helper()
	leaf, err := ca.Leaf(name)
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{leaf}, RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
}

// TestClientAuth: with Users, a Token or both, clients without
// credentials or with wrong ones are refused on every node (and AuthFailed
// reports each), the right ones connect on any node, and in-process
// Connect, WaitForInterest and the client hooks keep working.
func TestClientAuth(t *testing.T) {
	t.Parallel()
	const alicePW, token = "alice-pw-Zq81", "tok-Rr5xw2"
	alice := options.User{Name: "alice", Password: alicePW}
	tests := []struct {
		name  string
		opts  func(o *options.Options)
		good  []nats.Option
		wrong []nats.Option
	}{
		{"users", func(o *options.Options) { o.Users = []options.User{alice, {Name: "bob", Password: "bob-pw-1"}} },
			[]nats.Option{nats.UserInfo("alice", alicePW)}, []nats.Option{nats.UserInfo("alice", "nope")}},
		{"token", func(o *options.Options) { o.Token = token },
			[]nats.Option{nats.Token(token)}, []nats.Option{nats.Token("nope")}},
		{"users and token, token given", func(o *options.Options) { o.Users, o.Token = []options.User{alice}, token },
			[]nats.Option{nats.Token(token)}, []nats.Option{nats.UserInfo("mallory", token)}},
		{"system user only lets anonymous in", func(o *options.Options) { o.SystemUser = options.User{Name: "op", Password: "op-pw-11"} },
			nil, []nats.Option{nats.UserInfo("op", "nope")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var failed [3]*recorder
			var nodes []*mesh.Node
			for i := range 3 {
				failed[i] = &recorder{}
				o := options.Options{Name: meshtest.Name(i), Cluster: clusterName(t), Logger: quietLogger()}
				tt.opts(&o)
				o.Hooks.AuthFailed = failed[i].authFailure
				o.Hooks.ClientConnected = func(mesh.Client) {}
				if i > 0 {
					o.Seed = nodes[0].ClusterURL()
				}
				n, err := mesh.Start(o)
				require.NoError(t, err)
				t.Cleanup(n.Shutdown)
				nodes = append(nodes, n)
			}
			for _, n := range nodes {
				require.NoError(t, n.WaitForPeers(ctxFor(t), 2))
			}
			anonymousRefused := tt.good != nil
			for i, n := range nodes {
				// One try each: a refused client would go on to the client
				// URLs the node told it about.
				once := []nats.Option{nats.NoReconnect(), nats.IgnoreDiscoveredServers()}
				nc, err := nats.Connect(n.ClientURL(), once...)
				if anonymousRefused {
					require.Error(t, err, "anonymous client on %s", n.Name())
					assert.ErrorIs(t, err, nats.ErrAuthorization)
				} else {
					require.NoError(t, err)
					nc.Close()
				}
				_, err = nats.Connect(n.ClientURL(), append(tt.wrong, once...)...)
				require.Error(t, err, "wrong credentials on %s", n.Name())
				want := 1
				if anonymousRefused {
					want = 2
				}
				eventually(t, fmt.Sprintf("AuthFailed for each refused client (want %d)", want), func() bool { return len(failed[i].clients(&failed[i].authFailed)) >= want })
				got := failed[i].clients(&failed[i].authFailed)
				assert.Equal(t, want, len(got), "%v", got)
				for _, c := range got {
					assert.NotContains(t, fmt.Sprintf("%+v", c), alicePW)
					assert.NotContains(t, fmt.Sprintf("%+v", c), token)
				}
			}

			// The right credentials on any node; messages reach the
			// in-process clients of other nodes, and back.
			sub, err := nats.Connect(nodes[2].ClientURL(), tt.good...)
			require.NoError(t, err)
			defer sub.Close()
			s, err := sub.SubscribeSync("auth.in")
			require.NoError(t, err)
			require.NoError(t, sub.Flush())
			require.NoError(t, nodes[0].WaitForInterest(ctxFor(t), "auth.in"))
			pub, err := nodes[0].Connect()
			require.NoError(t, err)
			defer pub.Close()
			require.NoError(t, pub.Publish("auth.in", []byte("in process to tcp")))
			m, err := s.NextMsg(waitTimeout)
			require.NoError(t, err)
			assert.Equal(t, "in process to tcp", string(m.Data))
			roundTrip(t, nodes[1], nodes[2], "auth.inproc")
			if tt.good != nil {
				// Credentials given to Connect are used as given.
				nc, err := nodes[1].Connect(tt.good...)
				require.NoError(t, err)
				nc.Close()
			}
		})
	}
}

// TestSystemUser: an operator logged in as SystemUser sees every node
// answer a server ping (what `nats server list` sends); an anonymous or
// ordinary client sees no system account.
func TestSystemUser(t *testing.T) {
	t.Parallel()
	op := options.User{Name: "op", Password: "op-pw-Wq2"}
	c := meshtest.Start(t, 3, func(_ int, o *options.Options) {
		o.SystemUser = op
		o.Users = []options.User{{Name: "app", Password: "app-pw-9"}}
	})
	nc, err := nats.Connect(c.Nodes[1].ClientURL(), nats.UserInfo(op.Name, op.Password))
	require.NoError(t, err)
	defer nc.Close()
	names := map[string]bool{}
	inbox := nats.NewInbox()
	s, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	require.NoError(t, nc.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil))
	for len(names) < 3 {
		m, err := s.NextMsg(waitTimeout)
		require.NoError(t, err, "answers so far: %v", names)
		var r struct {
			Server struct{ Name string } `json:"server"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &r))
		names[r.Server.Name] = true
	}
	assert.Equal(t, map[string]bool{"a": true, "b": true, "c": true}, names)

	// An operator cannot make nodes report lies: no goodbye in a
	// server's name, no answer to describe requests.
	violations := make(chan error, 10)
	liar, err := nats.Connect(c.Nodes[0].ClientURL(), nats.UserInfo(op.Name, op.Password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	require.NoError(t, err)
	defer liar.Close()
	goodbyes := []string{"$SYS.SERVER." + c.Nodes[2].ID() + ".SHUTDOWN", "$SYS.SERVER." + c.Nodes[2].ID() + ".LAMEDUCK", "$SYS.NATSMESH." + c.Nodes[2].ID() + ".BYE"}
	for _, subj := range goodbyes {
		require.NoError(t, liar.Publish(subj, []byte("{}")))
	}
	_, err = liar.Subscribe("$SYS.NATSMESH."+c.Nodes[2].ID()+".DESCRIBE", func(*nats.Msg) {})
	require.NoError(t, err)
	require.NoError(t, liar.Flush())
	for range len(goodbyes) + 1 {
		select {
		case err := <-violations:
			assert.ErrorIs(t, err, nats.ErrPermissionViolation)
		case <-time.After(waitTimeout):
			t.Fatal("an operator's fake goodbye or describe responder was not refused")
		}
	}

	app, err := nats.Connect(c.Nodes[0].ClientURL(), nats.UserInfo("app", "app-pw-9"))
	require.NoError(t, err)
	defer app.Close()
	_, err = app.Request("$SYS.REQ.SERVER.PING", nil, 300*time.Millisecond)
	assert.ErrorIs(t, err, nats.ErrNoResponders, "an application user must not reach the system account")
}

// TestNoSecretInOutput: with every secret option set and logging at trace
// level, nothing the library produces (log lines, errors, hook values,
// /varz, /routez, /connz, the peers file) holds a secret or a password,
// through a refused intruder, refused clients, bad options and a working
// mesh alike.
func TestNoSecretInOutput(t *testing.T) {
	t.Parallel()
	secret, accepted := options.NewSecret(), options.NewSecret()
	user := options.User{Name: "alice", Password: "alice-Pw-7xq"}
	op := options.User{Name: "op", Password: "op-Pw-3kz"}
	token := "token-Tk-91m"
	secrets := []string{secret, accepted, user.Password, op.Password, token}

	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: levelTrace}))
	var hookOut syncbuf.Buffer
	hooks := options.Hooks{
		PeerJoined:         func(p mesh.Peer) { fmt.Fprintf(&hookOut, "%+v\n", p) },
		PeerLeft:           func(p mesh.Peer, why mesh.LeaveReason) { fmt.Fprintf(&hookOut, "%+v %v\n", p, why) },
		ClientConnected:    func(c mesh.Client) { fmt.Fprintf(&hookOut, "%+v\n", c) },
		ClientDisconnected: func(c mesh.Client) { fmt.Fprintf(&hookOut, "%+v\n", c) },
		AuthFailed:         func(c mesh.Client) { fmt.Fprintf(&hookOut, "%+v\n", c) },
		RouteError:         func(e mesh.RouteError) { fmt.Fprintf(&hookOut, "%+v\n", e) },
	}
	dir := t.TempDir()
	var nodes []*mesh.Node
	for i := range 2 {
		o := options.Options{
			Name: meshtest.Name(i), Cluster: clusterName(t), Secret: secret, AcceptedSecrets: []string{accepted},
			Users: []options.User{user}, Token: token, SystemUser: op,
			Logger: logger, Hooks: hooks, Monitor: true, PeersFile: filepath.Join(dir, meshtest.Name(i)+".peers"),
		}
		if i > 0 {
			// Route credentials in the seed URL (the mesh needs none).
			o.Seed = "nats://route:" + secret + "@" + strings.TrimPrefix(nodes[0].ClusterURL(), "nats://")
		}
		n, err := mesh.Start(o)
		require.NoError(t, err)
		t.Cleanup(n.Shutdown)
		nodes = append(nodes, n)
	}
	require.NoError(t, nodes[1].WaitForPeers(ctxFor(t), 1))
	roundTrip(t, nodes[0], nodes[1], "quiet", nats.UserInfo(user.Name, user.Password))

	var out bytes.Buffer
	// Refused clients and an intruder.
	for _, o := range [][]nats.Option{nil, {nats.UserInfo(user.Name, secret)}, {nats.Token(user.Password)}} {
		_, err := nats.Connect(nodes[0].ClientURL(), append(o, nats.NoReconnect())...)
		require.Error(t, err)
		fmt.Fprintln(&out, err)
	}
	intruder := startIntruder(t, options.Options{Seed: nodes[0].ClusterURL(), Secret: options.NewSecret()})
	fmt.Fprintln(&out, intruder())
	// Bad options that hold secrets.
	for _, o := range []options.Options{
		{Secret: secret[:10]},
		{AcceptedSecrets: []string{accepted}},
		{Secret: secret, AcceptedSecrets: []string{accepted[:12]}},
		{Users: []options.User{{Name: "x y", Password: user.Password}}},
		{Users: []options.User{user, user}},
		{SystemUser: options.User{Password: op.Password}},
		{Seed: "nats://u:" + secret + "#x@localhost:abc"},
		{Secret: secret, RouteTLS: &tls.Config{}},
	} {
		_, err := mesh.Start(o)
		require.Error(t, err)
		fmt.Fprintln(&out, err)
		fmt.Fprintf(&out, "%v %+v %#v\n", o.Users, o.Users, o.SystemUser)
	}
	for _, n := range nodes {
		for _, page := range []string{"/varz", "/routez", "/connz?auth=1&subs=1", "/subsz?subs=1"} {
			resp, err := http.Get(n.MonitorURL() + page)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			out.Write(body)
		}
	}
	for i := range nodes {
		data, err := os.ReadFile(filepath.Join(dir, meshtest.Name(i)+".peers"))
		require.NoError(t, err)
		out.Write(data)
	}
	nodes[1].Shutdown()

	all := map[string]string{"logs": logs.String(), "hooks": hookOut.String(), "errors, pages and files": out.String()}
	require.Contains(t, all["logs"], "CONNECT", "trace lines are on")
	for where, text := range all {
		for _, s := range secrets {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("a secret appears in %s: %q", where, text[max(0, i-120):i])
			}
		}
	}
}

// TestClientTLS: with ClientTLS, clients connect over TLS (verifying the
// node with their roots), a plain client is refused, and in-process
// Connect keeps working and reaches TLS clients of other nodes.
func TestClientTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	c := meshtest.Start(t, 2, func(i int, o *options.Options) { o.ClientTLS = tlsConfig(t, pki, meshtest.Name(i)) })
	_, err := nats.Connect(c.Nodes[0].ClientURL(), nats.NoReconnect(), nats.IgnoreDiscoveredServers())
	require.Error(t, err, "a plain client")
	nc, err := nats.Connect(c.Nodes[1].ClientURL(), nats.Secure(&tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}))
	require.NoError(t, err)
	defer nc.Close()
	assert.True(t, nc.TLSRequired())
	s, err := nc.SubscribeSync("tls.in")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	require.NoError(t, c.Nodes[0].WaitForInterest(ctxFor(t), "tls.in"))
	pub, err := c.Nodes[0].Connect()
	require.NoError(t, err)
	defer pub.Close()
	require.NoError(t, pub.Publish("tls.in", []byte("x")))
	_, err = s.NextMsg(waitTimeout)
	require.NoError(t, err)
}

// TestSecretAddresses: in a sealed mesh the certificate check does not
// depend on the address a route dials: a seed given by host name, routes
// learned by gossip (IPs), advertised addresses and a wildcard bind all
// mesh.
func TestSecretAddresses(t *testing.T) {
	t.Parallel()
	secret := options.NewSecret()
	tests := []struct {
		name string
		b, c func(seedPort int) options.Options
	}{
		{"seed by host name", func(p int) options.Options {
			return options.Options{Seed: fmt.Sprintf("nats://localhost:%d", p)}
		}, func(p int) options.Options {
			return options.Options{Seed: fmt.Sprintf("nats://localhost:%d", p)}
		}},
		{"advertised addresses, wildcard bind", func(p int) options.Options {
			return options.Options{Seed: fmt.Sprintf("nats://127.0.0.1:%d", p), ClusterHost: "0.0.0.0", ClusterAdvertise: "127.0.0.3", ClientAdvertise: "127.0.0.3"}
		}, func(p int) options.Options {
			return options.Options{Seed: fmt.Sprintf("nats://127.0.0.1:%d", p), ClusterHost: "0.0.0.0", ClusterAdvertise: "localhost"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := startNode(t, options.Options{Name: "a", Secret: secret})
			port := mustPort(t, a.ClusterURL())
			nodes := []*mesh.Node{a}
			for _, o := range []options.Options{tt.b(port), tt.c(port)} {
				o.Name, o.Secret = meshtest.Name(len(nodes)), secret
				n, _ := startNode(t, o)
				nodes = append(nodes, n)
			}
			for _, n := range nodes {
				require.NoError(t, n.WaitForPeers(ctxFor(t), 2), n.Name())
			}
			roundTrip(t, nodes[1], nodes[2], "addresses")
		})
	}
}

// TestOperatorCannotForgeGoodbye: an operator who sets the reply subject
// of a server ping to a peer's goodbye subject (permissions do not cover
// reply subjects) makes every server answer there, but those answers are
// no goodbye: the peer, SIGKILLed, is still reported lost.
func TestOperatorCannotForgeGoodbye(t *testing.T) {
	t.Parallel()
	op := options.User{Name: "op", Password: "op-pw-Zx81"}
	a, ra := startNode(t, options.Options{Name: "a", SystemUser: op})
	p := startProcess(t, binary(t, "node"), "-n", "x", "-p", "-1", "--cluster_name", clusterName(t), "--cluster", "nats://127.0.0.1:-1", "--routes", a.ClusterURL())
	ra.waitEvent(t, "+x")
	var xID string
	for _, peer := range a.Peers() {
		xID = peer.ID
	}
	nc, err := nats.Connect(a.ClientURL(), nats.UserInfo(op.Name, op.Password))
	require.NoError(t, err)
	defer nc.Close()
	goodbye := "$SYS.SERVER." + xID + ".SHUTDOWN"
	s, err := nc.SubscribeSync(goodbye)
	require.NoError(t, err)
	require.NoError(t, nc.PublishRequest("$SYS.REQ.SERVER.PING", goodbye, nil))
	_, err = s.NextMsg(waitTimeout) // the forgery reached the goodbye subject
	require.NoError(t, err)
	require.NoError(t, p.cmd.Process.Kill())
	_ = p.wait(t)
	ra.waitEvent(t, "-x:lost")
}

// TestOperatorWildcardDoesNotBlankPeers: an operator watching everything
// in the system account (`nats sub '>'`) shows interest in every describe
// subject before a joining peer's responder exists; peers still join with
// their addresses.
func TestOperatorWildcardDoesNotBlankPeers(t *testing.T) {
	t.Parallel()
	op := options.User{Name: "op", Password: "op-pw-Zx82"}
	a, ra := startNode(t, options.Options{Name: "a", SystemUser: op})
	nc, err := nats.Connect(a.ClientURL(), nats.UserInfo(op.Name, op.Password))
	require.NoError(t, err)
	defer nc.Close()
	for _, subj := range []string{">", "$SYS.>"} {
		_, err := nc.Subscribe(subj, func(*nats.Msg) {})
		require.NoError(t, err)
	}
	require.NoError(t, nc.Flush())
	var nodes []*mesh.Node
	for _, name := range []string{"b", "c", "d"} {
		n, _ := startNode(t, options.Options{Name: name, Seed: a.ClusterURL(), SystemUser: op})
		nodes = append(nodes, n)
	}
	for _, name := range []string{"+b", "+c", "+d"} {
		ra.waitEvent(t, name)
	}
	for _, p := range a.Peers() {
		other := byID(nodes, p.ID)
		require.NotNil(t, other)
		assert.Equal(t, other.ClusterURL(), p.ClusterURL, "a's view of %s", p.Name)
		assert.Equal(t, []string{other.ClientURL()}, p.ClientURLs, "a's view of %s", p.Name)
	}
}

// TestSealedJetStream: a sealed mesh with client logins runs JetStream: an
// R3 bucket is written in process on one node and read by a logged-in
// TCP client of another.
func TestSealedJetStream(t *testing.T) {
	t.Parallel()
	user := options.User{Name: "app", Password: "app-pw-Js3"}
	c := meshtest.Start(t, 3, meshtest.WithSecret(options.NewSecret()), meshtest.WithJetStream(t),
		func(_ int, o *options.Options) { o.Users = []options.User{user} })
	js, err := c.Nodes[0].JetStream()
	require.NoError(t, err)
	ctx := ctxFor(t)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "sealed", Replicas: 3})
	require.NoError(t, err)
	_, err = kv.PutString(ctx, "k", "v")
	require.NoError(t, err)

	nc, err := nats.Connect(c.Nodes[2].ClientURL(), nats.UserInfo(user.Name, user.Password))
	require.NoError(t, err)
	defer nc.Close()
	js2, err := jetstream.New(nc)
	require.NoError(t, err)
	kv2, err := js2.KeyValue(ctx, "sealed")
	require.NoError(t, err)
	// A direct get may be answered by a replica that has not applied the
	// write yet: an acknowledged write has reached a quorum, not every
	// replica.
	eventually(t, "the value read through c", func() bool {
		e, err := kv2.Get(ctx, "k")
		return err == nil && string(e.Value()) == "v"
	})
}
