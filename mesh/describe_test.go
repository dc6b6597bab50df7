package mesh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/routetls"
	"github.com/natsmesh/natsmesh/options"
)

// TestDescribeRepliesAreChecked: a describe reply is believed only if it
// describes the server asked about and, in a sealed mesh, is signed over
// the request's nonce by an accepted certificate naming that server.
func TestDescribeRepliesAreChecked(t *testing.T) {
	f := newDescribeFixture(t)
	pool, leafA, leafB, stranger, nonce := f.pool, f.leafA, f.leafB, f.stranger, f.nonce

	// reply answers a describe request as serveDescribe does.
	reply := func(d description, leaf *routetls.Leaf, signedNonce []byte) []byte {
		return signedDescription(t, d, leaf, signedNonce)
	}
	a := description{Name: "a", ID: "IDA", ClusterURL: "nats://10.0.0.1:4248"}
	forged := description{Name: "a", ID: "IDA", ClusterURL: "nats://10.6.6.6:4248"}
	otherNonce := make([]byte, describeNonceSize)

	tests := []checkCase{
		{"plain, the right server", reply(a, nil, nil), false, ""},
		{"plain, another server's description", reply(description{Name: "b", ID: "IDB"}, nil, nil), false, "not the server asked about"},
		{"sealed, signed by the server", reply(a, leafA, nonce), true, ""},
		{"sealed, unsigned", reply(forged, nil, nil), true, "certificate"},
		{"sealed, signed by another node", reply(forged, leafB, nonce), true, "not of IDA"},
		{"sealed, signed by another authority", reply(forged, stranger, nonce), true, "unknown authority"},
		{"sealed, replayed for another nonce", reply(a, leafA, otherNonce), true, "signature"},
	}
	runCheckCases(t, tests, pool, a, func(data []byte, p *x509.CertPool) (description, error) {
		return checkDescription(data, "IDA", nonce, p, nil)
	})
}

// TestHellosAreChecked: a hello (the description a describe request
// carries) is believed as a describe reply is: in a sealed mesh only if
// signed over the hello label by an accepted certificate naming the
// server it describes; a reply's signature does not pass for a hello.
func TestHellosAreChecked(t *testing.T) {
	f := newDescribeFixture(t)
	pool, leafA, leafB, stranger, nonce := f.pool, f.leafA, f.leafB, f.stranger, f.nonce

	signed := func(d description, leaf *routetls.Leaf, prefix []byte) []byte {
		return signedDescription(t, d, leaf, prefix)
	}
	a := description{Name: "a", ID: "IDA", ClusterURL: "nats://10.0.0.1:4248"}
	forged := description{Name: "a", ID: "IDA", ClusterURL: "nats://10.6.6.6:4248"}
	label := []byte(helloLabel)
	tests := []checkCase{
		{"plain", signed(a, nil, nil), false, ""},
		{"plain, no server named", signed(description{Name: "x"}, nil, nil), false, "names no server"},
		{"sealed, signed by the server", signed(a, leafA, label), true, ""},
		{"sealed, unsigned", signed(forged, nil, nil), true, "certificate"},
		{"sealed, signed by another node", signed(forged, leafB, label), true, "not of IDA"},
		{"sealed, signed by another authority", signed(forged, stranger, label), true, "unknown authority"},
		{"sealed, a reply's signature", signed(a, leafA, nonce), true, "signature"},
	}
	runCheckCases(t, tests, pool, a, func(data []byte, p *x509.CertPool) (description, error) {
		return checkHello(data, p, nil)
	})
}

// TestHelloAnswersDescribe: a node that heard a peer's hello describes
// that peer from it, without asking (here the peer has no responder, so
// an ask could not be answered); a hello that does not check out teaches
// nothing.
func TestHelloAnswersDescribe(t *testing.T) {
	secret := options.NewSecret()
	a := startWithRuntime(t, options.Options{Name: "a", Secret: secret})
	same, err := routetls.Derive(secret)
	require.NoError(t, err)
	other, err := routetls.Derive(options.NewSecret())
	require.NoError(t, err)
	hello := func(auth *routetls.Authority, id string) string {
		leaf, err := auth.Issue("z", id, nil)
		require.NoError(t, err)
		desc, err := json.Marshal(description{Name: "z", ID: id, ClusterURL: "nats://0.0.0.0:4248", ClientURLs: []string{"nats://0.0.0.0:4222"}})
		require.NoError(t, err)
		b, err := json.Marshal(describeReply{Description: desc, Cert: leaf.Cert.Raw, Sig: ed25519.Sign(leaf.Key, append([]byte(helloLabel), desc...))})
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}

	a.sys.hear(hello(same, "IDZ"), a.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cu, urls, err := a.sys.describe(ctx, "IDZ", "10.1.2.3")
	require.NoError(t, err)
	assert.Equal(t, "nats://10.1.2.3:4248", cu)
	assert.Equal(t, []string{"nats://10.1.2.3:4222"}, urls)

	a.sys.hear(hello(other, "IDY"), a.ID())
	a.sys.hear(hello(same, "IDX")[:40], a.ID())
	a.sys.mu.Lock()
	assert.Empty(t, a.sys.learned, "only the checked hello was kept, and describe took it")
	a.sys.mu.Unlock()
}

// TestDescribeWakesOnHello: a describe waiting for a peer's hello (this
// node does not ask first: its server ID is the larger) takes it as soon
// as it comes, though the peer has no responder to poll for, and leaves
// nothing behind.
func TestDescribeWakesOnHello(t *testing.T) {
	a, id, hello := nodeAfterV(t)

	// Once the describe waits (bounded: else it times out and fails),
	// v's hello comes.
	heard := make(chan struct{})
	go func() {
		defer close(heard)
		for deadline := time.Now().Add(testWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			a.sys.mu.Lock()
			waiting := a.sys.awaiting[id] != nil
			a.sys.mu.Unlock()
			if waiting {
				a.sys.hear(base64.RawURLEncoding.EncodeToString(hello), a.ID())
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	cu, _, err := a.sys.describe(ctx, id, "10.1.2.3")
	require.NoError(t, err)
	assert.Equal(t, "nats://10.1.2.3:4248", cu)
	<-heard
	a.sys.mu.Lock()
	assert.Empty(t, a.sys.awaiting)
	assert.Empty(t, a.sys.learned)
	a.sys.mu.Unlock()
}

// TestDescribeAsksWhenNoHelloComes: a node that does not ask first, whose
// peer answers describe requests but sends no hello (an older natsmesh),
// asks the peer itself once it has seen the peer's responder for
// helloWait, and not before.
func TestDescribeAsksWhenNoHelloComes(t *testing.T) {
	a, id, reply := nodeAfterV(t)
	asked := make(chan time.Time, 1)
	sub, err := a.sys.nc.Subscribe(describeSubject(id), func(m *nats.Msg) {
		select {
		case asked <- time.Now():
		default:
		}
		_ = m.Respond(reply)
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, a.sys.nc.Flush())

	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	start := time.Now()
	cu, _, err := a.sys.describe(ctx, id, "10.1.2.3")
	require.NoError(t, err)
	assert.Equal(t, "nats://10.1.2.3:4248", cu)
	select {
	case at := <-asked:
		assert.GreaterOrEqual(t, at.Sub(start), helloWait, "asked before the hello could come")
	default:
		t.Fatal("described without asking")
	}
}

// TestRedescribeAsksAtOnce: a node describing again a peer it has
// described before (its routes went and came back, which the peer may not
// have noticed: then it sends no hello) asks at once, even when its
// server ID is the larger; a peer that said goodbye is forgotten.
func TestRedescribeAsksAtOnce(t *testing.T) {
	a, err := Start(options.Options{Name: "a"})
	require.NoError(t, err)
	t.Cleanup(a.Shutdown)
	b, err := Start(options.Options{Name: "b", Seed: a.ClusterURL()})
	require.NoError(t, err)
	t.Cleanup(b.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	require.NoError(t, a.WaitForPeers(ctx, 1))
	require.NoError(t, b.WaitForPeers(ctx, 1))
	lo, hi := a, b
	if b.ID() < a.ID() {
		lo, hi = b, a
	}
	require.True(t, hi.sys.asksFirst(lo.ID()), "described once: asks first")

	start := time.Now()
	cu, _, err := hi.sys.describe(ctx, lo.ID(), "127.0.0.1")
	require.NoError(t, err)
	assert.Equal(t, lo.ClusterURL(), cu)
	assert.Less(t, time.Since(start), helloWait, "waited for a hello that does not come")

	lo.Shutdown() // it says goodbye
	waitFor(t, "the peer's leave", func() bool { return len(hi.Peers()) == 0 })
	assert.False(t, hi.sys.asksFirst(lo.ID()), "a peer that left is still remembered")
}

// nodeAfterV starts node a, which does not ask first when it meets a
// peer v of server ID "IDV" (smaller than any server ID, "N..."), and
// returns it with v's ID and v's plain description as a describe reply (or
// unsigned hello) carries it.
func nodeAfterV(t *testing.T) (a *Node, id string, described []byte) {
	t.Helper()
	a = startWithRuntime(t, options.Options{Name: "a"})
	id = "IDV"
	require.False(t, a.sys.asksFirst(id))
	desc, err := json.Marshal(description{Name: "v", ID: id, ClusterURL: "nats://0.0.0.0:4248"})
	require.NoError(t, err)
	described, err = json.Marshal(describeReply{Description: desc})
	require.NoError(t, err)
	return a, id, described
}

// describeFixture is what the tests of describe replies and hellos share:
// an accepted authority's pool, leaves of servers IDA and IDB from it, a
// leaf naming IDA from another authority, and a fresh nonce.
type describeFixture struct {
	pool                   *x509.CertPool
	leafA, leafB, stranger *routetls.Leaf
	nonce                  []byte
}

// checkCase is one description a check must accept (error "") or refuse
// with an error containing error; pool says whether the mesh is sealed
// (the check gets the accepted authorities) or plain (nil).
type checkCase struct {
	name  string
	data  []byte
	pool  bool
	error string
}

// runCheckCases runs check on every case, giving it pool for sealed ones,
// and expects want from those it must accept.
func runCheckCases(t *testing.T, cases []checkCase, pool *x509.CertPool, want description, check func([]byte, *x509.CertPool) (description, error)) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p := pool
			if !tt.pool {
				p = nil
			}
			d, err := check(tt.data, p)
			if tt.error == "" {
				require.NoError(t, err)
				assert.Equal(t, want, d)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.error)
		})
	}
}

func newDescribeFixture(t *testing.T) describeFixture {
	t.Helper()
	auth, err := routetls.Derive(options.NewSecret())
	require.NoError(t, err)
	other, err := routetls.Derive(options.NewSecret())
	require.NoError(t, err)
	f := describeFixture{pool: routetls.Pool(auth), nonce: make([]byte, describeNonceSize)}
	f.leafA, err = auth.Issue("a", "IDA", nil)
	require.NoError(t, err)
	f.leafB, err = auth.Issue("b", "IDB", nil)
	require.NoError(t, err)
	f.stranger, err = other.Issue("a", "IDA", nil)
	require.NoError(t, err)
	_, _ = rand.Read(f.nonce)
	return f
}

// signedDescription is d as serveDescribe sends it: signed by leaf over
// prefix (a nonce, or the hello label) then d; unsigned if leaf is nil.
func signedDescription(t *testing.T, d description, leaf *routetls.Leaf, prefix []byte) []byte {
	t.Helper()
	desc, err := json.Marshal(d)
	require.NoError(t, err)
	r := describeReply{Description: desc}
	if leaf != nil {
		r.Cert = leaf.Cert.Raw
		r.Sig = ed25519.Sign(leaf.Key, append(append([]byte(nil), prefix...), desc...))
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	return b
}

// TestUntilDue: a describe that does not ask first wakes for what can be
// due (the fallback ask, a stock server), not at a fixed rate.
func TestUntilDue(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name                string
		wait                time.Duration
		responder, varzSeen time.Duration // how long ago each was first seen; 0: not seen
		want                time.Duration
	}{
		{"nothing seen yet: a slow poll", 0, 0, 0, describeSlowPoll},
		{"nothing seen for a while: doubling", describeSlowPoll, 0, 0, 2 * describeSlowPoll},
		{"nothing seen for long: capped", describeIdlePoll, 0, 0, describeIdlePoll},
		{"responder just seen: until helloWait", describeSlowPoll, time.Millisecond, 0, helloWait - time.Millisecond},
		{"responder and VARZ: the responder decides", describeSlowPoll, time.Millisecond, 200 * time.Millisecond, helloWait - time.Millisecond},
		{"only VARZ: looks for the responder meanwhile", describeSlowPoll, 0, 10 * time.Millisecond, describeIdlePoll},
		{"only VARZ, nearly due: until stockGrace", describeSlowPoll, 0, stockGrace - 10*time.Millisecond, 10 * time.Millisecond},
		{"past due: a slow poll", describeSlowPoll, 2 * helloWait, 0, describeSlowPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var responderSince, varzSince time.Time
			if tt.responder > 0 {
				responderSince = now.Add(-tt.responder)
			}
			if tt.varzSeen > 0 {
				varzSince = now.Add(-tt.varzSeen)
			}
			assert.Equal(t, tt.want, untilDue(tt.wait, responderSince, varzSince, now))
		})
	}
}

// TestDescribePoll: a describe that asks first polls fast at first, its
// step doubling, and more slowly while many describes poll at once, so
// that together they poll about as often as describeFastPollers would.
func TestDescribePoll(t *testing.T) {
	tests := []struct {
		name    string
		wait    time.Duration
		elapsed time.Duration
		active  int64
		want    time.Duration
	}{
		{"first steps double", 50 * time.Microsecond, 0, 1, 100 * time.Microsecond},
		{"capped at the fast step", 200 * time.Microsecond, time.Millisecond, 1, describeFastPoll},
		{"as many as describeFastPollers: the fast step", describeFastPoll, time.Millisecond, describeFastPollers, describeFastPoll},
		{"twice as many: twice the step", describeFastPoll, time.Millisecond, 2 * describeFastPollers, 2 * describeFastPoll},
		{"31 at once (a 32-node mesh forming)", describeFastPoll, time.Millisecond, 31, describeFastPoll * 31 / describeFastPollers},
		{"never beyond the slow step", describeSlowPoll, time.Millisecond, 10000, describeSlowPoll},
		{"after describeFastFor: doubling to the slow step", describeFastPoll, describeFastFor, 1, 2 * describeFastPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, describePoll(tt.wait, tt.elapsed, tt.active))
		})
	}
}

// TestDescribeResponderAfterVarzIsNoStockServer: a peer whose VARZ
// responder shows before its describe responder (nats-server's own
// subscriptions exist from its start, a natsmesh node's responder comes a
// moment later, as when a peer dials this node before it serves) and whose
// hello is late or never comes is a natsmesh node: it is asked, not taken
// for a stock server once stockGrace is past.
func TestDescribeResponderAfterVarzIsNoStockServer(t *testing.T) {
	a, id, reply := nodeAfterV(t)
	varz := []byte(`{"data":{"host":"0.0.0.0","port":5222,"cluster":{"addr":"0.0.0.0","cluster_port":5248}}}`)
	sub, err := a.sys.nc.Subscribe(varzSubject(id), func(m *nats.Msg) { _ = m.Respond(varz) })
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, a.sys.nc.Flush())

	// Once the describe has seen the VARZ responder (it waits), the
	// describe responder comes, a moment later (not a synchronization:
	// the gap between the two is the case).
	served := make(chan error, 1)
	go func() {
		for deadline := time.Now().Add(testWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			a.sys.mu.Lock()
			waiting := a.sys.awaiting[id] != nil
			a.sys.mu.Unlock()
			if waiting {
				time.Sleep(20 * time.Millisecond)
				s, err := a.sys.nc.Subscribe(describeSubject(id), func(m *nats.Msg) { _ = m.Respond(reply) })
				if err == nil {
					t.Cleanup(func() { _ = s.Unsubscribe() })
					err = a.sys.nc.Flush()
				}
				served <- err
				return
			}
		}
		served <- context.DeadlineExceeded
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	cu, _, err := a.sys.describe(ctx, id, "10.1.2.3")
	require.NoError(t, <-served)
	require.NoError(t, err)
	assert.Equal(t, "nats://10.1.2.3:4248", cu, "described by VARZ, as a stock server")
}
