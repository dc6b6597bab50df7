package mesh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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

	tests := []struct {
		name  string
		data  []byte
		pool  bool
		error string // "" means accepted
	}{
		{"plain, the right server", reply(a, nil, nil), false, ""},
		{"plain, another server's description", reply(description{Name: "b", ID: "IDB"}, nil, nil), false, "not the server asked about"},
		{"sealed, signed by the server", reply(a, leafA, nonce), true, ""},
		{"sealed, unsigned", reply(forged, nil, nil), true, "certificate"},
		{"sealed, signed by another node", reply(forged, leafB, nonce), true, "not of IDA"},
		{"sealed, signed by another authority", reply(forged, stranger, nonce), true, "unknown authority"},
		{"sealed, replayed for another nonce", reply(a, leafA, otherNonce), true, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool
			if !tt.pool {
				p = nil
			}
			d, err := checkDescription(tt.data, "IDA", nonce, p, nil)
			if tt.error == "" {
				require.NoError(t, err)
				assert.Equal(t, a, d)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.error)
		})
	}
}

// TestRefusalsReportedOncePerInterval: refusals from one host are reported
// (hook and log) once per refusalInterval, with the count of those left
// out; other route errors and other hosts are not held back.
func TestRefusalsReportedOncePerInterval(t *testing.T) {
	var got []RouteError
	l := newServerLog(slog.New(slog.NewTextHandler(io.Discard, nil)), "a", nil)
	l.onRouteError = func(e RouteError) { got = append(got, e) }
	refuse := func(remote string) {
		l.Errorf(remote+" - rid:7 - TLS route handshake error: %v", "remote error: tls: bad certificate")
	}
	for range 5 {
		refuse("10.0.0.9:40001")
	}
	refuse("10.0.0.8:40001")
	assert.Equal(t, "10.0.0.8:40001", l.lastRouteError().Remote)
	// Another reason from the same host: another intruder.
	l.Errorf("10.0.0.9:40002 - rid:9 - TLS route handshake error: %v", "tls: first record does not look like a TLS handshake")
	l.Errorf("10.0.0.9:40001 - rid:8 - %s", "Router Error 'something else'")
	require.Len(t, got, 4)
	assert.True(t, got[0].Refused)
	assert.Equal(t, "10.0.0.8:40001", got[1].Remote)
	assert.Equal(t, "10.0.0.9:40002", got[2].Remote)
	assert.False(t, got[3].Refused)
	assert.Equal(t, "TLS route handshake error: remote error: tls: bad certificate", got[0].Message)

	// An interval later: reported again, with the count.
	l.mu.Lock()
	l.refusals["10.0.0.9 TLS route handshake error: remote error: tls: bad certificate"].reported = time.Now().Add(-refusalInterval)
	l.mu.Unlock()
	refuse("10.0.0.9:40555")
	require.Len(t, got, 5)
	assert.Equal(t, 4, got[4].Suppressed)
}

// TestWatchComesBack: the watch connection is dialled again if the server
// drops it, and membership keeps following routes.
func TestWatchComesBack(t *testing.T) {
	a, err := Start(options.Options{Name: "a"})
	require.NoError(t, err)
	defer a.Shutdown()
	watchID := func() uint64 {
		cz, err := a.srv.Connz(&server.ConnzOptions{Account: server.DEFAULT_SYSTEM_ACCOUNT})
		require.NoError(t, err)
		for _, c := range cz.Conns {
			if c.Name == internalConnName+"-watch" {
				return c.Cid
			}
		}
		return 0
	}
	<-a.rtDone // Start returns before the runtime (the watch) is up
	first := watchID()
	require.NotZero(t, first)
	require.NoError(t, a.srv.DisconnectClientByID(first))
	deadline := time.Now().Add(5 * time.Second)
	for id := watchID(); id == 0 || id == first; id = watchID() {
		require.True(t, time.Now().Before(deadline), "the watch connection did not come back")
		time.Sleep(time.Millisecond)
	}
	b, err := Start(options.Options{Name: "b", Seed: a.ClusterURL()})
	require.NoError(t, err)
	defer b.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.WaitForPeers(ctx, 1))
}

// TestUserNeverPrintsItsPassword: every way of printing a User masks its
// password.
func TestUserNeverPrintsItsPassword(t *testing.T) {
	u := options.User{Name: "alice", Password: "pw-s3cret"}
	for _, s := range []string{fmt.Sprint(u), fmt.Sprintf("%v %+v %#v %s", u, u, u, u), fmt.Sprint([]options.User{u}), fmt.Sprintf("%+v", options.Options{Users: []options.User{u}, SystemUser: u})} {
		assert.NotContains(t, s, "s3cret")
		assert.True(t, strings.Contains(s, "alice"), s)
	}
}

// TestRefusalsFromManyPlaces: ports in a reason do not make it new, and
// refusals from more hosts than are counted apart share one count.
func TestRefusalsFromManyPlaces(t *testing.T) {
	reports := 0
	l := newServerLog(slog.New(slog.NewTextHandler(io.Discard, nil)), "a", nil)
	l.onRouteError = func(RouteError) { reports++ }
	for port := range 100 {
		l.Errorf("10.0.0.9:%d - rid:7 - TLS route handshake error: read tcp 10.0.0.1:4248->10.0.0.9:%d: i/o timeout", 40000+port, 40000+port)
	}
	assert.Equal(t, 1, reports, "one host, one reason")
	for i := range 3 * maxRefusalKeys {
		l.Errorf("10.%d.%d.%d:40000 - rid:7 - TLS route handshake error: tls: bad certificate", i>>16&255, i>>8&255, i&255)
	}
	assert.Equal(t, maxRefusalKeys+1, reports, "the first maxRefusalKeys-1 hosts, then one for the rest")
	l.mu.Lock()
	assert.LessOrEqual(t, len(l.refusals), maxRefusalKeys+1)
	l.mu.Unlock()
}

// TestRedactor: CONNECT lines keep only fields without credentials, even
// when nats-server's own masking was cut short by the password's
// characters; known secrets are replaced anywhere; hook text is bounded.
func TestRedactor(t *testing.T) {
	n, err := options.Options{Users: []options.User{{Name: "alice", Password: "alicepw,TAIL-1"}}, Token: "tok}TAIL-22"}.Normalize()
	require.NoError(t, err)
	r := newRedactor(n)
	line := r.line(`127.0.0.1:5000 - cid:7 - <<- [CONNECT {"verbose":false,"user":"alice","pass":"[REDACTED],TAIL-1","auth_token":"[REDACTED]}TAIL-22","name":"app","lang":"go","version":"1.55.0"}]`)
	assert.NotContains(t, line, "TAIL")
	assert.Contains(t, line, "name=app")
	assert.Contains(t, line, "user=alice")
	assert.Equal(t, "x [REDACTED] y", r.line("x alicepw,TAIL-1 y"))
	long := r.hookText("CN=" + strings.Repeat("A\r\n", 1000))
	assert.LessOrEqual(t, len(long), maxRemoteText+3)
	assert.NotContains(t, long, "\n")
}

// describeFixture is what the tests of describe replies and hellos share:
// an accepted authority's pool, leaves of servers IDA and IDB from it, a
// leaf naming IDA from another authority, and a fresh nonce.
type describeFixture struct {
	pool                   *x509.CertPool
	leafA, leafB, stranger *routetls.Leaf
	nonce                  []byte
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
