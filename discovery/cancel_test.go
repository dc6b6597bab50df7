package discovery_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/discovery"
)

// TestProvidersHonourCancelledContext: every provider of the package fails
// at once, with ctx's error, when called with a cancelled context, however
// fast it could have answered (a DNS server on loopback, a file, a list).
// Run many times: an answer racing the cancellation must never win.
func TestProvidersHonourCancelledContext(t *testing.T) {
	t.Parallel()
	srv := startDNS(t, testZone())
	path := filepath.Join(t.TempDir(), "seeds")
	require.NoError(t, os.WriteFile(path, []byte("nats://127.0.0.1:4248\n"), 0o600))
	static, err := discovery.Static("nats://127.0.0.1:4248")
	require.NoError(t, err)
	providers := map[string]discovery.Provider{
		"DNS":    discovery.DNS{Name: "nats.mesh.test.", Port: 4248, Resolver: srv.resolver()},
		"SRV":    discovery.SRV{Name: "_nats-route._tcp.mesh.test.", Resolver: srv.resolver()},
		"File":   &discovery.File{Path: path},
		"Static": static,
		"Multi":  discovery.Multi(static, &discovery.File{Path: path}),
	}
	for name, p := range providers {
		t.Run(name, func(t *testing.T) {
			// The provider answers with a live context...
			_, err := p.Discover(context.Background())
			require.NoError(t, err)
			// ...and never with a cancelled one.
			for range 200 {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				urls, err := p.Discover(ctx)
				require.ErrorIs(t, err, context.Canceled)
				assert.ErrorIs(t, err, discovery.ErrDiscovery)
				assert.Empty(t, urls)
			}
		})
	}
}
