package mesh

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

	other, err := newRouteSecurity(config{Options: options.Options{Secret: options.NewSecret()}})
	require.NoError(t, err)
	other.mint(config{}, "IDX")
	require.NoError(t, other.waitMinted())
	require.Nil(t, a.sec.handshaken(other.leaf.Load().Cert.Raw))
}
