package mesh_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// TestStopRightAfterStart: Start returns before the node's runtime (its
// internal connections and membership tracker) is up; a Shutdown or a
// Leave right after it stops the node cleanly, and a node that is up
// meanwhile still joins it and sees it go.
func TestStopRightAfterStart(t *testing.T) {
	seed, err := mesh.Start(options.Options{Name: "seed"})
	require.NoError(t, err)
	defer seed.Shutdown()
	for _, tt := range []struct {
		name string
		stop func(*mesh.Node) error
	}{
		{"shutdown", func(n *mesh.Node) error { n.Shutdown(); return nil }},
		{"leave", func(n *mesh.Node) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return n.Leave(ctx)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 10 {
				n, err := mesh.Start(options.Options{Name: "brief", Seed: seed.ClusterURL()})
				require.NoError(t, err, "start %d", i)
				require.NoError(t, tt.stop(n), "stop %d", i)
				select {
				case <-n.Done():
				case <-time.After(5 * time.Second):
					t.Fatalf("node %d not done 5 s after it stopped", i)
				}
				require.NoError(t, n.Err())
				require.Nil(t, n.Peers())
			}
			// The seed lets every brief node go, whether or not it saw it.
			require.Eventually(t, func() bool { return len(seed.Peers()) == 0 }, 5*time.Second, time.Millisecond)
		})
	}
}
