package natsmesh_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// jsTimeout bounds JetStream waits: a meta or stream leader that crashed
// is replaced after nats-server's election timeout (4 to 9 s).
const jsTimeout = 30 * time.Second

func jsCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jsTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startJS starts a JetStream node named name with its store in dir,
// seeded by seed, and registers its shutdown.
func startJS(t *testing.T, name, seed, dir string) *mesh.Node {
	t.Helper()
	n, err := mesh.Start(options.Options{Name: name, Seed: seed, JetStream: true, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(n.Shutdown)
	return n
}

// storeDir is where node n's nats-server keeps its JetStream data.
func storeDir(n *mesh.Node) string {
	return filepath.Dir(n.Server().JetStreamConfig().StoreDir) // nats-server adds "jetstream"
}

// TestJetStreamFirstNodeIsClustered: the first node of a mesh, which has
// no route to dial, runs clustered JetStream (nats-server alone would
// refuse), gets a temporary store that Shutdown removes, and a second node
// makes the meta group elect a leader.
func TestJetStreamFirstNodeIsClustered(t *testing.T) {
	t.Parallel()
	a, err := mesh.Start(options.Options{Name: "a", JetStream: true})
	require.NoError(t, err)
	defer a.Shutdown()
	require.True(t, a.Server().JetStreamIsClustered(), "first node runs clustered JetStream")
	dir := storeDir(a)
	require.DirExists(t, dir)
	require.Equal(t, os.TempDir(), filepath.Dir(dir), "temporary store under the OS temp dir")

	b, err := mesh.Start(options.Options{Name: "b", Seed: a.ClusterURL(), JetStream: true})
	require.NoError(t, err)
	defer b.Shutdown()
	require.NotEqual(t, dir, storeDir(b), "two nodes never share a store")
	for _, n := range []*mesh.Node{a, b} {
		require.NoError(t, n.WaitForJetStream(jsCtx(t)))
	}
	js, err := b.JetStream()
	require.NoError(t, err)
	_, err = js.CreateStream(jsCtx(t), jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, Replicas: 2})
	require.NoError(t, err)

	a.Shutdown()
	require.NoDirExists(t, dir, "temporary store removed at Shutdown")
	_, err = a.JetStream()
	require.ErrorIs(t, err, mesh.ErrShutdown)
}

// TestJetStreamOff: the JetStream methods of a node without it say so.
func TestJetStreamOff(t *testing.T) {
	t.Parallel()
	n, err := mesh.Start(options.Options{})
	require.NoError(t, err)
	defer n.Shutdown()
	_, err = n.JetStream()
	require.ErrorIs(t, err, mesh.ErrNoJetStream)
	require.ErrorIs(t, n.WaitForJetStream(context.Background()), mesh.ErrNoJetStream)
	require.ErrorIs(t, n.Decommission(context.Background()), mesh.ErrNoJetStream)
}

// lastSeq is the last sequence of stream in node n's own replica.
func lastSeq(t *testing.T, n *mesh.Node, stream string) uint64 {
	t.Helper()
	jsz, err := n.Server().Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	require.NoError(t, err)
	for _, acc := range jsz.AccountDetails {
		for _, s := range acc.Streams {
			if s.Name == stream {
				return s.State.LastSeq
			}
		}
	}
	return 0
}

// TestJetStreamKVR3: an R3 KV bucket across three nodes: written on one,
// read on another; with one node shut down writes carry on; the node
// restarted with its name and store catches up.
func TestJetStreamKVR3(t *testing.T) {
	t.Parallel()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	a := startJS(t, "a", "", dirs[0])
	b := startJS(t, "b", a.ClusterURL(), dirs[1])
	c := startJS(t, "c", a.ClusterURL(), dirs[2])
	for _, n := range []*mesh.Node{a, b, c} {
		require.NoError(t, n.WaitForJetStream(jsCtx(t)))
	}
	jsA, err := a.JetStream()
	require.NoError(t, err)
	kvA, err := jsA.CreateKeyValue(jsCtx(t), jetstream.KeyValueConfig{Bucket: "cfg", Replicas: 3})
	require.NoError(t, err)
	_, err = kvA.Put(jsCtx(t), "k", []byte("v1"))
	require.NoError(t, err)

	jsB, err := b.JetStream()
	require.NoError(t, err)
	kvB, err := jsB.KeyValue(jsCtx(t), "cfg")
	require.NoError(t, err)
	e, err := kvB.Get(jsCtx(t), "k")
	require.NoError(t, err)
	require.Equal(t, "v1", string(e.Value()))

	c.Shutdown()
	for i := 2; i <= 5; i++ {
		_, err = kvB.Put(jsCtx(t), "k", fmt.Appendf(nil, "v%d", i))
		require.NoError(t, err, "write %d with c down", i)
	}
	want := lastSeq(t, b, "KV_cfg")

	c = startJS(t, "c", a.ClusterURL(), dirs[2])
	require.NoError(t, c.WaitForJetStream(jsCtx(t)))
	pollUntil(t, jsTimeout, "c's replica to catch up", func() bool { return lastSeq(t, c, "KV_cfg") >= want })
	jsC, err := c.JetStream()
	require.NoError(t, err)
	kvC, err := jsC.KeyValue(jsCtx(t), "cfg")
	require.NoError(t, err)
	e, err = kvC.Get(jsCtx(t), "k")
	require.NoError(t, err)
	require.Equal(t, "v5", string(e.Value()))
}

// TestJetStreamMeshtest: meshtest starts a JetStream mesh that is ready
// when Start returns: an R3 stream can be created at once, on any node.
func TestJetStreamMeshtest(t *testing.T) {
	t.Parallel()
	c := meshtest.Start(t, 4, meshtest.WithJetStream(t))
	for i, n := range c.Nodes {
		js, err := n.JetStream()
		require.NoError(t, err)
		_, err = js.CreateStream(jsCtx(t), jetstream.StreamConfig{Name: fmt.Sprintf("S%d", i), Replicas: 3})
		require.NoError(t, err, "R3 stream created right after the mesh is ready, on %s", n.Name())
	}
	for _, n := range c.Nodes {
		meta, _ := n.Server().Jsz(nil)
		require.Equal(t, 4, meta.Meta.Size, "every node is in the meta group")
	}
	var noJS error = mesh.ErrNoJetStream
	require.False(t, errors.Is(c.Nodes[0].WaitForJetStream(jsCtx(t)), noJS))
}
