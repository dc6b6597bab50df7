package natsmesh_test

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// TestDuplicateNameFailsWaitForPeers: a node whose name a node of the mesh
// already has cannot join; its WaitForPeers says so within seconds, naming
// the name and the node it clashes with, whether that node is its seed or
// another node of the mesh. The refusing node logs the address the
// newcomer came from and reports it through RouteError.
func TestDuplicateNameFailsWaitForPeers(t *testing.T) {
	t.Parallel()
	for _, viaPeer := range []bool{false, true} {
		t.Run(fmt.Sprintf("clash with the seed=%v", !viaPeer), func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			routeErrs := make(chan mesh.RouteError, 64)
			first, err := mesh.Start(options.Options{Name: "same", Cluster: clusterName(t), Logger: logger, Hooks: options.Hooks{
				RouteError: func(e mesh.RouteError) {
					select {
					case routeErrs <- e:
					default:
					}
				},
			}})
			require.NoError(t, err)
			t.Cleanup(first.Shutdown)
			seed := first
			if viaPeer {
				seed, _ = startNode(t, options.Options{Name: "other", Seed: first.ClusterURL()})
				require.NoError(t, seed.WaitForPeers(ctxFor(t), 1))
			}
			newcomer, _ := startNode(t, options.Options{Name: "same", Seed: seed.ClusterURL(), Logger: logger})
			began := time.Now()
			err = newcomer.WaitForPeers(ctxFor(t), len(seed.Peers())+1)
			took := time.Since(began)
			require.ErrorIs(t, err, mesh.ErrDuplicateName)
			assert.Less(t, took, 10*time.Second)
			assert.Contains(t, err.Error(), `"same"`)
			// It names the node it clashes with: by the route address it
			// dialled (its seed), or as the peers know it.
			if viaPeer {
				assert.Contains(t, err.Error(), first.ID())
			} else {
				assert.Contains(t, err.Error(), mustHost(t, first.ClusterURL()))
			}
			t.Logf("after %s: %v", took.Round(time.Millisecond), err)

			// The node that refused it logs where the newcomer came from,
			// and RouteError carries it. (Seeded from another node, the
			// newcomer and the first node may each dial the other, and
			// either may be the one to refuse: only the log is sure.)
			eventually(t, "the refusal in the log", func() bool {
				return strings.Contains(logs.String(), "duplicate name") && strings.Contains(logs.String(), "remote=127.0.0.1:")
			})
			if !viaPeer {
				select {
				case e := <-routeErrs:
					assert.Contains(t, e.Message, "duplicate name")
					assert.True(t, strings.HasPrefix(e.Remote, "127.0.0.1:"), e.Remote)
					assert.Contains(t, logs.String(), "remote="+e.Remote)
				case <-time.After(waitTimeout):
					t.Fatal("no RouteError on the refusing node")
				}
			}
			// The first node carries on, with its mesh, and the newcomer
			// is no peer of it.
			assert.NoError(t, first.Err())
			for _, p := range first.Peers() {
				assert.NotEqual(t, newcomer.ID(), p.ID, "the node with a duplicate name joined")
			}
		})
	}
}

func mustHost(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.Host
}

// TestRestartedNameIsNoClash: a node that leaves and comes back under its
// name, while its peers may still list its old self, is not mistaken for
// a duplicate.
func TestRestartedNameIsNoClash(t *testing.T) {
	t.Parallel()
	a, _ := startNode(t, options.Options{Name: "a"})
	b, _ := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL()})
	require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
	for range 3 {
		b.Shutdown()
		b, _ = startNode(t, options.Options{Name: "b", Seed: a.ClusterURL()})
		require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
	}
}
