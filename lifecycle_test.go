package natsmesh_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// quickBound is how long a call on a stopped node, or one racing its end,
// may take: it answers at once, so this only absorbs a loaded machine.
const quickBound = 2 * time.Second

// TestNodeEnd: a node's life has an observable end, whatever ends it, and
// every method is safe and quick afterwards.
func TestNodeEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		end     func(n *mesh.Node)
		wantErr error // nil: Err is nil
	}{
		{"Shutdown", func(n *mesh.Node) { n.Shutdown() }, nil},
		{"Leave", func(n *mesh.Node) { _ = n.Leave(context.Background()) }, nil},
		{"server shut down under the node", func(n *mesh.Node) { n.Server().Shutdown() }, mesh.ErrServerStopped},
		{"fatal server error", func(n *mesh.Node) { n.Server().Fatalf("disk on fire") }, mesh.ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			quiet := slog.New(slog.DiscardHandler) // the end of b is logged as an error
			a, _ := startNode(t, options.Options{Name: "a", Logger: quiet})
			b, _ := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL(), Logger: quiet, LameDuckDuration: 100 * time.Millisecond})
			require.NoError(t, b.WaitForPeers(ctxFor(t), 1))
			require.NoError(t, a.WaitForPeers(ctxFor(t), 1))
			clientURL, clusterURL := b.ClientURL(), b.ClusterURL()
			select {
			case <-b.Done():
				t.Fatal("Done closed on a running node")
			default:
			}
			require.NoError(t, b.Err())

			tt.end(b)
			select {
			case <-b.Done():
			case <-time.After(waitTimeout):
				t.Fatal("Done not closed")
			}
			if tt.wantErr == nil {
				assert.NoError(t, b.Err())
			} else {
				assert.ErrorIs(t, b.Err(), tt.wantErr)
				assert.Contains(t, b.Err().Error(), "b")
			}
			checkStopped(t, b, clientURL, clusterURL)
			// The peer sees it go.
			eventually(t, "a to see b go", func() bool { return len(a.Peers()) == 0 })
			// Ending it again, either way, is safe.
			b.Shutdown()
			assert.NoError(t, b.Leave(ctxFor(t)))
		})
	}
}

// checkStopped checks that every method of a stopped node answers at once
// and sensibly.
func checkStopped(t *testing.T, n *mesh.Node, clientURL, clusterURL string) {
	t.Helper()
	start := time.Now()
	assert.Equal(t, clientURL, n.ClientURL())
	assert.Equal(t, clusterURL, n.ClusterURL())
	assert.Empty(t, n.Peers())
	assert.ErrorIs(t, n.WaitForPeers(context.Background(), 1), mesh.ErrShutdown)
	assert.ErrorIs(t, n.WaitForPeers(context.Background(), 0), mesh.ErrShutdown)
	assert.ErrorIs(t, n.WaitForInterest(context.Background(), "x"), mesh.ErrShutdown)
	nc, err := n.Connect()
	assert.ErrorIs(t, err, mesh.ErrShutdown)
	assert.Nil(t, nc)
	assert.NotEmpty(t, n.Name())
	assert.NotEmpty(t, n.ID())
	assert.Less(t, time.Since(start), quickBound)
}

// TestNodeEndRaces: Shutdown, Leave, Peers, WaitForPeers, Connect and the
// URL methods called from many goroutines while the node ends, round after
// round: nothing panics, races, or waits longer than it may. A Connect
// racing Leave either connects or fails, within ConnectTimeout.
func TestNodeEndRaces(t *testing.T) {
	t.Parallel()
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	seed, _ := startNode(t, options.Options{Name: "seed"})
	var connected, refused atomic.Int64
	for round := range rounds {
		n, err := mesh.Start(options.Options{
			Name: fmt.Sprintf("n%d", round), Cluster: clusterName(t), Seed: seed.ClusterURL(), LameDuckDuration: 20 * time.Millisecond,
		})
		require.NoError(t, err)
		clientURL, clusterURL := n.ClientURL(), n.ClusterURL()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				began := time.Now()
				nc, err := n.Connect(nats.Timeout(time.Minute))
				if took := time.Since(began); took > mesh.ConnectTimeout+quickBound {
					t.Errorf("Connect took %s", took)
				}
				if err != nil {
					refused.Add(1)
					return
				}
				connected.Add(1)
				nc.Close()
			})
		}
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := n.WaitForPeers(ctx, 5); err != nil && !errors.Is(err, mesh.ErrShutdown) {
				t.Errorf("WaitForPeers: %v", err)
			}
		})
		for range 4 {
			wg.Go(func() {
				<-start
				for range 20 {
					_ = n.Peers()
					assert.Equal(t, clientURL, n.ClientURL())
					assert.Equal(t, clusterURL, n.ClusterURL())
					_ = n.MonitorURL()
					_ = n.Err()
				}
			})
		}
		wg.Go(func() {
			<-start
			// Jitter, so that some Connects are under way when the
			// node goes and some have not started.
			time.Sleep(rand.N(2 * time.Millisecond))
			if round%2 == 0 {
				_ = n.Leave(context.Background())
			} else {
				n.Shutdown()
			}
		})
		wg.Go(func() {
			<-start
			time.Sleep(rand.N(2 * time.Millisecond))
			n.Shutdown()
		})
		close(start)
		wg.Wait()
		select {
		case <-n.Done():
		case <-time.After(waitTimeout):
			t.Fatalf("round %d: Done not closed", round)
		}
		assert.NoError(t, n.Err())
		checkStopped(t, n, clientURL, clusterURL)
		if t.Failed() {
			t.Fatalf("round %d failed", round)
		}
	}
	t.Logf("%d rounds: %d connects succeeded, %d refused", rounds, connected.Load(), refused.Load())
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

// TestConnectBoundedWhileServerStopsReading: a server in lame-duck mode
// takes an in-process connection, sends its INFO and never reads the
// CONNECT; Connect still returns, within ConnectTimeout, even with a
// nats.go Timeout far longer.
func TestConnectBoundedWhileServerStopsReading(t *testing.T) {
	t.Parallel()
	n, _ := startNode(t, options.Options{LameDuckDuration: time.Minute})
	// A client keeps the lame duck going (no clients: it ends at once).
	nc, err := nats.Connect(n.ClientURL(), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	go n.Server().LameDuckShutdown()
	// Lame duck closes the client listener first.
	eventually(t, "lame-duck mode", func() bool { return n.Server().Addr() == nil })
	began := time.Now()
	c, err := n.Connect(nats.Timeout(time.Minute))
	took := time.Since(began)
	if c != nil {
		c.Close()
	}
	require.Error(t, err)
	assert.Less(t, took, mesh.ConnectTimeout+quickBound)
	t.Logf("Connect failed after %s: %v", took.Round(time.Millisecond), err)
}
