package natsmesh_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/discovery"
	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// Seeds and discovery: seed providers (one that answers late, one that
// hangs), a seed that is not up yet, and the peers file.

// TestSeedProvider: a node finds its seed through a provider, also when
// the provider knows none at first and only later answers.
func TestSeedProvider(t *testing.T) {
	a, _ := startNode(t, options.Options{Name: "a"})
	seed, err := url.Parse(a.ClusterURL())
	require.NoError(t, err)

	tests := []struct {
		name     string
		provider func() discovery.Provider
	}{
		{"static", func() discovery.Provider {
			p, err := discovery.Static(a.ClusterURL())
			require.NoError(t, err)
			return p
		}},
		{"answers on the third call", func() discovery.Provider {
			var calls atomic.Int32
			return discovery.ProviderFunc(func(context.Context) ([]*url.URL, error) {
				if calls.Add(1) < 3 {
					return nil, discovery.ErrNoSeeds
				}
				return []*url.URL{seed}, nil
			})
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := startNode(t, options.Options{Name: fmt.Sprintf("p%d", i), SeedProvider: tt.provider(), Logger: quietLogger()})
			require.NoError(t, n.WaitForPeers(ctxFor(t), 1))
			n.Shutdown()
		})
	}
}

// TestSeedNotUpYet: a node whose seed is not up keeps trying, says so in
// its log at ERROR (what the user must fix is an error, naming the seed's
// address), and joins once the seed starts.
func TestSeedNotUpYet(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	port := freePort(t)
	seed := fmt.Sprintf("127.0.0.1:%d", port)
	b, _ := startNode(t, options.Options{Name: "b", Seed: "nats://" + seed, Logger: logger})
	eventually(t, "an error line about the seed", func() bool {
		for _, l := range errorLines(logs.String()) {
			if strings.Contains(l, "Error trying to connect to route") && strings.Contains(l, seed) {
				return true
			}
		}
		return false
	})
	startNode(t, options.Options{Name: "a", ClusterPort: port})
	require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
}

// TestPeersFile: a node remembers the peers it has seen, so after a
// restart it rejoins through them although its first seed is gone.
func TestPeersFile(t *testing.T) {
	peersFile := filepath.Join(t.TempDir(), "peers")
	a, _ := startNode(t, options.Options{Name: "a"})
	b, _ := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL()})
	c, _ := startNode(t, options.Options{Name: "c", Seed: a.ClusterURL(), PeersFile: peersFile})
	require.NoError(t, c.WaitForPeers(ctxFor(t), 2))
	eventually(t, "both peers in the peers file", func() bool {
		data, _ := os.ReadFile(peersFile)
		return strings.Contains(string(data), a.ClusterURL()) && strings.Contains(string(data), b.ClusterURL())
	})

	deadSeed := a.ClusterURL()
	a.Shutdown()
	c.Shutdown()
	c2, _ := startNode(t, options.Options{Name: "c", Seed: deadSeed, PeersFile: peersFile, Logger: quietLogger()})
	require.NoError(t, c2.WaitForPeers(ctxFor(t), 1))
	assert.Equal(t, "b", c2.Peers()[0].Name)
}

// hangingProvider answers its first calls (up to answered) at once and
// then ignores its context until released.
type hangingProvider struct {
	answered int
	release  chan struct{}
	calls    atomic.Int64
}

func (p *hangingProvider) Discover(context.Context) ([]*url.URL, error) {
	if int(p.calls.Add(1)) <= p.answered {
		return nil, nil
	}
	<-p.release
	return nil, nil
}

// TestHangingSeedProvider: a provider that ignores its context holds Start
// no longer than DiscoverTimeout, and Shutdown not at all: its call is
// abandoned.
func TestHangingSeedProvider(t *testing.T) {
	t.Parallel()
	t.Run("Start", func(t *testing.T) {
		t.Parallel()
		p := &hangingProvider{release: make(chan struct{})}
		t.Cleanup(func() { close(p.release) })
		const timeout = 300 * time.Millisecond
		began := time.Now()
		n, err := mesh.Start(options.Options{SeedProvider: p, DiscoverTimeout: timeout, Logger: slog.New(slog.DiscardHandler)})
		took := time.Since(began)
		require.NoError(t, err)
		t.Cleanup(n.Shutdown)
		assert.GreaterOrEqual(t, took, timeout)
		assert.Less(t, took, timeout+quickBound)
		t.Logf("Start took %s with DiscoverTimeout %s", took.Round(time.Millisecond), timeout)
	})
	t.Run("Shutdown", func(t *testing.T) {
		t.Parallel()
		p := &hangingProvider{answered: 1, release: make(chan struct{})}
		t.Cleanup(func() { close(p.release) })
		n, err := mesh.Start(options.Options{SeedProvider: p, DiscoverTimeout: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		// The node, alone, asks again: that call hangs.
		eventually(t, "a second Discover call", func() bool { return p.calls.Load() >= 2 })
		began := time.Now()
		n.Shutdown()
		assert.Less(t, time.Since(began), time.Second)
	})
}
