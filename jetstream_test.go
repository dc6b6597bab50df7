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

// JetStream on a mesh: clustered from the first node, stores (temporary,
// in use, odd names), an R3 KV bucket across a restart, meshtest's
// JetStream option, decommissioning a node and losing one for good, and
// meshes mixing JetStream and plain nodes. Durability while nodes fail
// (no acknowledged message lost) is in jetstream_noloss_test.go.

// retryNewStream creates an R2 stream through js as retryJS does, under a
// new name at each attempt. A create that timed out may still have placed
// its stream, on a peer that was going down as it was placed; nats-server
// then times out every request about that name until the peer is back
// (BenchmarkJetStreamLeaderGone met it too). That is not what these tests
// are about: whether the survivors can create a stream is.
func retryNewStream(t *testing.T, what string, js jetstream.JetStream, prefix string) {
	t.Helper()
	attempt := 0
	retryJS(t, what, func(ctx context.Context) error {
		attempt++
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fmt.Sprintf("%s%d", prefix, attempt), Replicas: 2})
		return err
	})
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
	a, err := mesh.Start(options.Options{Name: "a", Cluster: clusterName(t), JetStream: true})
	require.NoError(t, err)
	defer a.Shutdown()
	require.True(t, a.Server().JetStreamIsClustered(), "first node runs clustered JetStream")
	dir := storeDir(a)
	require.DirExists(t, dir)
	require.Equal(t, os.TempDir(), filepath.Dir(dir), "temporary store under the OS temp dir")

	b, err := mesh.Start(options.Options{Name: "b", Cluster: clusterName(t), Seed: a.ClusterURL(), JetStream: true})
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
	// b's own replica answers, and may apply the write a moment after
	// it was acknowledged.
	pollUntil(t, jsTimeout, "b to read k=v1", func() bool {
		e, err := kvB.Get(jsCtx(t), "k")
		return err == nil && string(e.Value()) == "v1"
	})

	c.Shutdown()
	for i := 2; i <= 5; i++ {
		retryJS(t, fmt.Sprintf("write %d with c down", i), func(ctx context.Context) error {
			_, err := kvB.Put(ctx, "k", fmt.Appendf(nil, "v%d", i))
			return err
		})
	}
	want := lastSeq(t, b, "KV_cfg")

	c = startJS(t, "c", a.ClusterURL(), dirs[2])
	require.NoError(t, c.WaitForJetStream(jsCtx(t)))
	pollUntil(t, jsTimeout, "c's replica to catch up", func() bool { return lastSeq(t, c, "KV_cfg") >= want })
	jsC, err := c.JetStream()
	require.NoError(t, err)
	kvC, err := jsC.KeyValue(jsCtx(t), "cfg")
	require.NoError(t, err)
	e, err := kvC.Get(jsCtx(t), "k")
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

// metaSize is the size of the meta group as node n sees it.
func metaSize(t *testing.T, n *mesh.Node) int {
	t.Helper()
	jsz, err := n.Server().Jsz(nil)
	require.NoError(t, err)
	if jsz.Meta == nil {
		return 0
	}
	return jsz.Meta.Size
}

// TestJetStreamDecommission: in a four-node mesh, d is decommissioned,
// then c is lost: a and b still reach quorum, create streams and write.
func TestJetStreamDecommission(t *testing.T) {
	t.Parallel()
	c := meshtest.Start(t, 4, meshtest.WithJetStream(t))
	a, b, cn, d := c.Nodes[0], c.Nodes[1], c.Nodes[2], c.Nodes[3]
	jsD, err := d.JetStream()
	require.NoError(t, err)
	// R3 streams created on d: some have a replica on d, to move away.
	for i := range 3 {
		_, err = jsD.CreateStream(jsCtx(t), jetstream.StreamConfig{Name: fmt.Sprintf("S%d", i), Subjects: []string{fmt.Sprintf("s%d", i)}, Replicas: 3})
		require.NoError(t, err)
	}

	t0 := time.Now()
	require.NoError(t, d.Decommission(jsCtx(t)))
	t.Logf("decommission took %s", time.Since(t0))
	pollUntil(t, jsTimeout, "a meta group of 3", func() bool { return metaSize(t, a) == 3 })
	require.NoError(t, a.WaitForJetStream(jsCtx(t)))

	cn.Shutdown() // c is lost: a and b are 2 of 3
	for i, n := range []*mesh.Node{a, b} {
		js, err := n.JetStream()
		require.NoError(t, err)
		retryNewStream(t, n.Name()+" creates a stream with d decommissioned and c lost", js, fmt.Sprintf("After%d-", i))
		for s := range 3 {
			retryJS(t, fmt.Sprintf("%s writes to S%d", n.Name(), s), func(ctx context.Context) error {
				_, err := js.Publish(ctx, fmt.Sprintf("s%d", s), []byte("x"), jetstream.WithMsgID(fmt.Sprintf("%s-%d", n.Name(), s)))
				return err
			})
		}
	}

	// d comes back under its name: nats-server keeps it out of the meta
	// group (for five minutes), and the others carry on.
	d, err = mesh.Start(options.Options{Name: "d", Cluster: c.ClusterName, Seed: a.ClusterURL(), JetStream: true, StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(d.Shutdown)
	require.NoError(t, d.WaitForPeers(jsCtx(t), 2))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err = d.WaitForJetStream(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a decommissioned name is kept out of the meta group")
	require.Equal(t, 3, metaSize(t, a))
	js, err := a.JetStream()
	require.NoError(t, err)
	retryNewStream(t, "a creates a stream with d back", js, "Back")
}

// TestJetStreamLostForGood: with RemoveLostAfter, a peer killed without a
// goodbye (SIGKILL of a node process) is removed from the meta group once
// it has been lost that long, with a log line and the PeerRemoved hook;
// then the mesh keeps quorum when one more node goes.
func TestJetStreamLostForGood(t *testing.T) {
	t.Parallel()
	binary(t, "node") // build it before any clock starts
	removed := make(chan string, 4)
	opts := func(name, seed string) options.Options {
		return options.Options{Name: name, Seed: seed, JetStream: true, StoreDir: t.TempDir(),
			RemoveLostAfter: 300 * time.Millisecond,
			Hooks: options.Hooks{PeerRemoved: func(p mesh.Peer, lostFor time.Duration) {
				removed <- fmt.Sprintf("%s %v", p.Name, lostFor >= 300*time.Millisecond)
			}},
		}
	}
	start := func(name, seed string) *mesh.Node {
		n, err := mesh.Start(ownCluster(t, opts(name, seed)))
		require.NoError(t, err)
		t.Cleanup(n.Shutdown)
		return n
	}
	a := start("a", "")
	b := start("b", a.ClusterURL())
	c := start("c", a.ClusterURL())
	d := startJSProcess(t, "d", a.ClusterURL(), t.TempDir())
	for _, n := range []*mesh.Node{a, b, c} {
		require.NoError(t, n.WaitForPeers(jsCtx(t), 3))
		require.NoError(t, n.WaitForJetStream(jsCtx(t)))
	}
	pollUntil(t, jsTimeout, "d in the meta group", func() bool { return metaSize(t, a) == 4 })

	require.NoError(t, d.cmd.Process.Kill())
	select {
	case got := <-removed:
		require.Equal(t, "d true", got, "d removed, after RemoveLostAfter")
	case <-time.After(jsTimeout):
		t.Fatal("d was not removed")
	}
	pollUntil(t, jsTimeout, "a meta group of 3", func() bool { return metaSize(t, a) == 3 })

	c.Shutdown() // a and b are 2 of 3: a quorum
	js, err := a.JetStream()
	require.NoError(t, err)
	retryNewStream(t, "a creates a stream with d removed and c gone", js, "After")
}

// TestJetStreamStoreInUse: a second node given a store that a running
// node holds is refused, naming the field; once the first stops, the
// store is free.
func TestJetStreamStoreInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := mesh.Start(options.Options{Name: "a", Cluster: clusterName(t), JetStream: true, StoreDir: dir})
	require.NoError(t, err)
	_, err = mesh.Start(options.Options{Name: "b", Cluster: clusterName(t), Seed: a.ClusterURL(), JetStream: true, StoreDir: dir})
	require.ErrorIs(t, err, options.ErrInvalid)
	require.ErrorContains(t, err, "StoreDir")
	a.Shutdown()
	a, err = mesh.Start(options.Options{Name: "a", Cluster: clusterName(t), JetStream: true, StoreDir: dir})
	require.NoError(t, err)
	a.Shutdown()
}

// TestJetStreamMixedMesh: WaitForJetStream does not wait for peers that
// run without JetStream; an R2 stream is placed on the two that do.
func TestJetStreamMixedMesh(t *testing.T) {
	t.Parallel()
	a := startJS(t, "a", "", t.TempDir())
	plain, err := mesh.Start(options.Options{Name: "plain", Cluster: clusterName(t), Seed: a.ClusterURL()})
	require.NoError(t, err)
	t.Cleanup(plain.Shutdown)
	b := startJS(t, "b", a.ClusterURL(), t.TempDir())
	for _, n := range []*mesh.Node{a, b} {
		require.NoError(t, n.WaitForPeers(jsCtx(t), 2))
		require.NoError(t, n.WaitForJetStream(jsCtx(t)))
	}
	js, err := a.JetStream()
	require.NoError(t, err)
	retryJS(t, "an R2 stream", func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "S", Replicas: 2})
		return err
	})
}

// TestJetStreamTempStoreOddName: a node name with a slash still gets a
// temporary store.
func TestJetStreamTempStoreOddName(t *testing.T) {
	t.Parallel()
	n, err := mesh.Start(options.Options{Name: "team/a", JetStream: true})
	require.NoError(t, err)
	dir := storeDir(n)
	require.DirExists(t, dir)
	n.Shutdown()
	require.NoDirExists(t, dir)
}
