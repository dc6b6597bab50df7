package mesh

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/options"
)

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
