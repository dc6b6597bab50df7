package mesh

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/routetls"
	"github.com/natsmesh/natsmesh/options"
)

// TestHandshakenLeaves: with a Secret, each node keeps the peer
// certificates its route handshakes verified, so a peer's signed
// description is checked without verifying its certificate again; a
// certificate no handshake verified is not among them.
func TestHandshakenLeaves(t *testing.T) {
	secret := options.NewSecret()
	a, err := Start(options.Options{Name: "a", Secret: secret})
	require.NoError(t, err)
	defer a.Shutdown()
	b, err := Start(options.Options{Name: "b", Secret: secret, Seed: a.ClusterURL()})
	require.NoError(t, err)
	defer b.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.WaitForPeers(ctx, 1))
	require.NoError(t, b.WaitForPeers(ctx, 1))

	aLeaf, bLeaf := a.sec.leaf.Load(), b.sec.leaf.Load()
	require.NotNil(t, a.sec.handshaken(bLeaf.Cert.Raw), "a verified b's certificate on their route")
	require.NotNil(t, b.sec.handshaken(aLeaf.Cert.Raw), "b verified a's certificate on their route")
	require.Nil(t, a.sec.handshaken(aLeaf.Cert.Raw), "a's own certificate came through no handshake of a")

	other, err := newRouteSecurity(options.Normalized{Options: options.Options{Secret: options.NewSecret()}})
	require.NoError(t, err)
	other.mint(options.Normalized{}, "IDX")
	require.NoError(t, other.waitMinted())
	require.Nil(t, a.sec.handshaken(other.leaf.Load().Cert.Raw))
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
	tests := []struct {
		name  string
		data  []byte
		pool  bool
		error string // "" means accepted
	}{
		{"plain", signed(a, nil, nil), false, ""},
		{"plain, no server named", signed(description{Name: "x"}, nil, nil), false, "names no server"},
		{"sealed, signed by the server", signed(a, leafA, label), true, ""},
		{"sealed, unsigned", signed(forged, nil, nil), true, "certificate"},
		{"sealed, signed by another node", signed(forged, leafB, label), true, "not of IDA"},
		{"sealed, signed by another authority", signed(forged, stranger, label), true, "unknown authority"},
		{"sealed, a reply's signature", signed(a, leafA, nonce), true, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool
			if !tt.pool {
				p = nil
			}
			d, err := checkHello(tt.data, p, nil)
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

// TestHelloAnswersDescribe: a node that heard a peer's hello describes
// that peer from it, without asking (here the peer has no responder, so
// an ask could not be answered); a hello that does not check out teaches
// nothing.
func TestHelloAnswersDescribe(t *testing.T) {
	secret := options.NewSecret()
	a, err := Start(options.Options{Name: "a", Secret: secret})
	require.NoError(t, err)
	defer a.Shutdown()
	<-a.rtDone
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
