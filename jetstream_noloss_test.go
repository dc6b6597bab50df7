package natsmesh_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// JetStream durability: a careful producer loses no acknowledged message
// while the stream leader is shut down or a replica's process is killed,
// nor through a rolling restart of the mesh.

// checkNoLoss stops w and checks that every message it saw acknowledged
// is in stream exactly once, and that no message is there twice. It reads
// the stream message by message (no consumer, so no meta-group request).
func checkNoLoss(t *testing.T, w *jsWriter, js jetstream.JetStream, stream string) {
	t.Helper()
	w.stop()
	var s jetstream.Stream
	var info *jetstream.StreamInfo
	retryJS(t, "stream info", func(ctx context.Context) (err error) {
		if s, err = js.Stream(ctx, stream); err == nil {
			info, err = s.Info(ctx)
		}
		return err
	})
	seen := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		retryJS(t, fmt.Sprintf("message %d", seq), func(ctx context.Context) error {
			m, err := s.GetMsg(ctx, seq)
			if err == nil {
				seen[m.Header.Get(nats.MsgIdHdr)]++
			}
			return err
		})
	}
	var dups []string
	for id, n := range seen {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	require.Empty(t, dups, "messages stored more than once")
	var lost []string
	for _, id := range w.acked {
		if seen[id] != 1 {
			lost = append(lost, id)
		}
	}
	require.Empty(t, lost, "acknowledged messages missing from the stream (%d acknowledged, %d stored)", len(w.acked), len(seen))
	t.Logf("%d messages acknowledged, all in the stream once (%d stored)", len(w.acked), len(seen))
}

// streamLeader returns the name of the leader of stream, as js sees it.
func streamLeader(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	var leader string
	retryJS(t, "stream info of "+stream, func(ctx context.Context) error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("no leader")
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}

// TestJetStreamNoLoss: a producer on a surviving node publishes with
// message IDs and retries while the stream leader is shut down (and comes
// back), then while a node process holding a replica is killed (SIGKILL):
// every acknowledged message is in the stream afterwards, once.
func TestJetStreamNoLoss(t *testing.T) {
	t.Parallel()
	binary(t, "node") // build it before any clock starts
	dirs := map[string]string{"a": t.TempDir(), "b": t.TempDir()}
	a := startJS(t, "a", "", dirs["a"])
	b := startJS(t, "b", a.ClusterURL(), dirs["b"])
	c := startJSProcess(t, "c", a.ClusterURL(), t.TempDir())
	for _, n := range []*mesh.Node{a, b} {
		require.NoError(t, n.WaitForPeers(jsCtx(t), 2))
		require.NoError(t, n.WaitForJetStream(jsCtx(t)))
	}
	jsA, err := a.JetStream()
	require.NoError(t, err)
	retryJS(t, "create ORDERS", func(ctx context.Context) error {
		_, err := jsA.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders"}, Replicas: 3})
		return err
	})
	// The leader to shut down must be in this process: move it off c.
	nc, err := a.Connect()
	require.NoError(t, err)
	defer nc.Close()
	for streamLeader(t, jsA, "ORDERS") == "c" {
		_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN.ORDERS", nil, time.Second)
	}
	nodes := map[string]*mesh.Node{"a": a, "b": b}
	leaderName := streamLeader(t, jsA, "ORDERS")
	other := map[string]string{"a": "b", "b": "a"}[leaderName]
	js, err := nodes[other].JetStream()
	require.NoError(t, err)
	w := startWriter(t, js, "orders")
	w.waitMore(t, 100, "before")

	w.resetGap()
	nodes[leaderName].Shutdown()
	w.waitMore(t, 100, "with the stream leader shut down")
	t.Logf("longest time without an acknowledgement, stream leader shut down: %s", w.resetGap())
	seed := nodes[other].ClusterURL()
	back := startJS(t, leaderName, seed, dirs[leaderName])
	require.NoError(t, back.WaitForJetStream(jsCtx(t)))
	pollUntil(t, jsTimeout, leaderName+"'s replica current again", func() bool {
		return back.Server().JetStreamIsStreamCurrent("$G", "ORDERS")
	})
	w.waitMore(t, 100, "with "+leaderName+" back")

	w.resetGap()
	require.NoError(t, c.cmd.Process.Kill())
	w.waitMore(t, 100, "with c killed")
	t.Logf("longest time without an acknowledgement, c killed: %s", w.resetGap())
	w.stop()
	killed := time.Now()
	for _, n := range []*mesh.Node{back, nodes[other]} {
		if err := n.WaitForJetStream(jsCtx(t)); err != nil {
			for _, n := range []*mesh.Node{back, nodes[other]} {
				jsz, _ := n.Server().Jsz(nil)
				t.Logf("%s: meta %+v", n.Name(), jsz.Meta)
			}
			t.Fatalf("meta group after c was killed: %v", err)
		}
	}
	t.Logf("meta group ready %s after c was killed", time.Since(killed))
	checkNoLoss(t, w, js, "ORDERS")
}

// TestJetStreamRollingRestart: each of three nodes in turn leaves
// gracefully and comes back with its name, ports and store, while a
// writer connected to all three client URLs runs throughout: no
// acknowledged write is lost, and the longest time without an
// acknowledgement is reported.
func TestJetStreamRollingRestart(t *testing.T) {
	t.Parallel()
	names := []string{"a", "b", "c"}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := make([]*mesh.Node, 3)
	// start starts node i seeded by a running node. Ports are free ones,
	// new at every start: the writer's client learns them from the mesh.
	start := func(i int, seed string) {
		n, err := mesh.Start(options.Options{Name: names[i], Cluster: clusterName(t), Seed: seed, JetStream: true, StoreDir: dirs[i],
			LameDuckDuration: 500 * time.Millisecond})
		require.NoError(t, err)
		t.Cleanup(n.Shutdown)
		nodes[i] = n
	}
	start(0, "")
	start(1, nodes[0].ClusterURL())
	start(2, nodes[0].ClusterURL())
	var urls []string
	for _, n := range nodes {
		require.NoError(t, n.WaitForJetStream(jsCtx(t)))
		urls = append(urls, n.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	retryJS(t, "create ORDERS", func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders"}, Replicas: 3})
		return err
	})
	w := startWriter(t, js, "orders")
	w.waitMore(t, 100, "before")
	var worst time.Duration
	for i, name := range names {
		w.resetGap()
		require.NoError(t, nodes[i].Leave(jsCtx(t)))
		start(i, nodes[(i+1)%3].ClusterURL())
		require.NoError(t, nodes[i].WaitForJetStream(jsCtx(t)))
		pollUntil(t, jsTimeout, name+"'s replica current again", func() bool {
			return nodes[i].Server().JetStreamIsStreamCurrent("$G", "ORDERS")
		})
		w.waitMore(t, 50, "after "+name+" came back")
		gap := w.resetGap()
		worst = max(worst, gap)
		t.Logf("restart of %s: longest time without an acknowledgement %s", name, gap)
	}
	t.Logf("rolling restart: longest time without an acknowledgement %s", worst)
	checkNoLoss(t, w, js, "ORDERS")
}
