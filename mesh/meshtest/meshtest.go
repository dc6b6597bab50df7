// Package meshtest starts natsmesh clusters for tests: real nodes on
// loopback with free ports, fully meshed before Start returns, shut down by
// t.Cleanup.
//
//	func TestOrders(t *testing.T) {
//		c := meshtest.Start(t, 3)
//		nc, err := nats.Connect(c.Nodes[1].ClientURL())
//		...
//	}
//
// Start returns a Cluster (its Nodes, named by Name, and its cluster
// name); Form does the same for code without a testing.TB, and
// Cluster.WaitFormed waits until every node sees all the others, say after
// a test restarted one. An Option adjusts each node's
// options.Options before it starts: WithHooks, WithSecret, WithJetStream,
// or a func of your own. A Proxy (NewProxy, or ListenProxy without a test)
// sits in front of a node's route listener and passes, delays, drops or
// blackholes its traffic as its Mode says, to make a peer slow, gone or
// partitioned.
package meshtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/natsmesh/natsmesh/internal/errprefix"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// FormTimeout bounds how long Start waits for the mesh to form.
const FormTimeout = 30 * time.Second

// Option adjusts the options of node i (0 is the seed) before it starts.
type Option func(i int, o *options.Options)

// WithHooks gives node i the hooks returned by h(i).
func WithHooks(h func(i int) options.Hooks) Option {
	return func(i int, o *options.Options) { o.Hooks = h(i) }
}

// WithSecret seals the test mesh's routes with secret (Options.Secret);
// options.NewSecret makes one.
func WithSecret(secret string) Option {
	return func(_ int, o *options.Options) { o.Secret = secret }
}

// Cluster is a running mesh of nodes.
type Cluster struct {
	// Nodes are the nodes in start order; Nodes[0] is every other node's seed.
	Nodes []*mesh.Node
	// ClusterName is the Options.Cluster every node has; a node started
	// later to join this mesh needs it too.
	ClusterName string
}

// clusterName returns a cluster name of its own for one test mesh. Meshes
// of parallel tests share the names "a", "b", ...; with one cluster name,
// a node of one test that redials a port now reused by another test's
// node (a seed it lost, which nats-server redials for ever) would route
// the two meshes into one, with every name twice. nats-server refuses a
// route between different cluster names.
func clusterName() string { return "meshtest-" + rand.Text()[:10] }

// Name returns the name Start gives node i: "a", "b", ... then "n26", "n27"...
func Name(i int) string {
	if i < 26 {
		return string(rune('a' + i))
	}
	return fmt.Sprintf("n%d", i)
}

// Start starts n nodes: node 0 first, then the others concurrently, each
// given node 0's route URL as its seed. It returns once every node sees the
// n-1 others, and registers a cleanup that shuts them all down. The nodes
// share a cluster name of their own (Options.Cluster, "meshtest-" and ten
// random characters; an Option may set another), so that meshes of
// parallel tests never route into each other. It fails the test if a node
// cannot start or the mesh does not form within FormTimeout.
func Start(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c, err := Form(n, opts...)
	if err != nil {
		t.Fatalf("meshtest.Start: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// Form is Start for code without a testing.TB (a main program, a
// benchmark harness, a TestMain): it returns the formed cluster, which the
// caller shuts down with Cluster.Shutdown, or an error, and then nothing
// it started is left running.
func Form(n int, opts ...Option) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("natsmesh: meshtest.Form n=%d: want at least 1", n)
	}
	cluster := clusterName()
	c := &Cluster{Nodes: make([]*mesh.Node, n), ClusterName: cluster}
	build := func(i int, seed string) options.Options {
		o := options.Options{Name: Name(i), Cluster: cluster, Seed: seed}
		for _, opt := range opts {
			opt(i, &o)
		}
		return o
	}
	first, err := mesh.Start(build(0, ""))
	if err != nil {
		return nil, fmt.Errorf("natsmesh: meshtest: node %s: %w", Name(0), errprefix.Inner(err))
	}
	c.Nodes[0] = first

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Nodes[i], errs[i] = mesh.Start(build(i, first.ClusterURL()))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("natsmesh: meshtest: node %s: %w", Name(i), errprefix.Inner(err))
		}
	}
	if err := c.WaitFormed(FormTimeout); err != nil {
		c.Shutdown()
		return nil, err
	}
	if err := c.waitJetStream(FormTimeout); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// WaitFormed waits until every node of the cluster sees all the others; it
// fails (with mesh.ErrShutdown) if one of them was shut down.
func (c *Cluster) WaitFormed(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, node := range c.Nodes {
		if err := node.WaitForPeers(ctx, len(c.Nodes)-1); err != nil {
			return fmt.Errorf("natsmesh: meshtest: mesh of %d did not form: %w", len(c.Nodes), errprefix.Inner(err))
		}
	}
	return nil
}

// Shutdown shuts every node down, concurrently. Start registers it with
// t.Cleanup; calling it earlier is safe.
func (c *Cluster) Shutdown() {
	var wg sync.WaitGroup
	for _, node := range c.Nodes {
		if node != nil {
			wg.Add(1)
			go func() { defer wg.Done(); node.Shutdown() }()
		}
	}
	wg.Wait()
}
