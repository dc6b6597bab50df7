package meshtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/natsmesh/natsmesh/internal/errprefix"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// WithJetStream turns JetStream on in every node, each with its own store
// in a directory of t.TempDir() (removed when the test ends). Start then
// also waits until JetStream is ready on every node (WaitForJetStream).
// Calling the option again for the same node index (to restart a node)
// gives it the same store.
func WithJetStream(t testing.TB) Option {
	var mu sync.Mutex
	dirs := map[int]string{}
	return func(i int, o *options.Options) {
		mu.Lock()
		defer mu.Unlock()
		if dirs[i] == "" {
			dirs[i] = t.TempDir()
		}
		o.JetStream = true
		o.StoreDir = dirs[i]
	}
}

// waitJetStream waits until JetStream is ready on every node that runs it.
func (c *Cluster) waitJetStream(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, node := range c.Nodes {
		err := node.WaitForJetStream(ctx)
		if err != nil && !errors.Is(err, mesh.ErrNoJetStream) {
			return fmt.Errorf("natsmesh: meshtest: JetStream of a mesh of %d not ready: %w", len(c.Nodes), errprefix.Inner(err))
		}
	}
	return nil
}
