package natsmesh_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// Membership: PeerJoined and PeerLeft run once per event, in order, with
// Peers agreeing, and a slow hook holds up no messages; why a peer left
// (Left or Lost) for each way a node can end, natsmesh or stock; names (a
// duplicate is refused, a restarted node's name is no clash); a restarted
// node is reported leaving and joining once (TestRejoin).

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
			var logs syncbuf.Buffer
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

// TestHooksExactlyOnce: every node reports each peer joining once, however
// many pooled route connections it has, and Peers agrees with each hook.
//
// natsmesh runs one route connection per peer; with nats-server's route
// pool (a pool of 3 plus a system-account route: 4 per peer, as a stock
// nats-server, or a node given that through ServerOptions, would have)
// each peer is still reported once.
func TestHooksExactlyOnce(t *testing.T) {
	tests := []struct {
		name        string
		pool        int
		connsToPeer int
	}{
		{"one connection per peer", 0, 1},
		{"pooled routes", 3, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, recs := startTrio(t, func(o *options.Options) {
				if tt.pool > 0 {
					o.ServerOptions = func(so *server.Options) { so.Cluster.PoolSize = tt.pool }
				}
			})
			eventually(t, "every route connection up", func() bool {
				rz, err := nodes[0].Server().Routez(nil)
				require.NoError(t, err)
				return len(rz.Routes) == 2*tt.connsToPeer
			})

			// Shutting c down is a barrier: events are delivered in order,
			// so a late duplicate join would show up before c's leave.
			nodes[2].Shutdown()
			for i, want := range [][]string{{"+b", "+c", "-c:left"}, {"+a", "+c", "-c:left"}} {
				recs[i].waitEvent(t, "-c:left")
				got := recs[i].snapshot()
				assert.ElementsMatch(t, want, got, "events of %s", nodes[i].Name())
				assert.Equal(t, "-c:left", got[len(got)-1], "events of %s", nodes[i].Name())
				assert.Empty(t, recs[i].violations, "Peers() disagreed with a hook on %s", nodes[i].Name())
			}
		})
	}
}

// TestLeaveReasons: a peer that says goodbye is reported Left, one whose
// process dies without one is reported Lost.
func TestLeaveReasons(t *testing.T) {
	tests := []struct {
		name string
		want mesh.LeaveReason
		// start starts the leaving node seeded from seed; stop stops it.
		start func(t *testing.T, seed string) (stop func())
	}{
		{"Shutdown", mesh.Left, func(t *testing.T, seed string) func() {
			n, _ := startNode(t, options.Options{Name: "x", Seed: seed})
			return n.Shutdown
		}},
		{"Leave", mesh.Left, func(t *testing.T, seed string) func() {
			n, _ := startNode(t, options.Options{Name: "x", Seed: seed, LameDuckDuration: 200 * time.Millisecond})
			return func() { require.NoError(t, n.Leave(ctxFor(t))) }
		}},
		{"process SIGTERM", mesh.Left, func(t *testing.T, seed string) func() {
			p := startProcess(t, binary(t, "node"), "-n", "x", "-p", "-1", "--cluster_name", clusterName(t), "--cluster", "nats://127.0.0.1:-1", "--routes", seed)
			return func() {
				require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
				require.NoError(t, p.wait(t), "node should exit 0 after a graceful leave")
			}
		}},
		{"process SIGKILL", mesh.Lost, func(t *testing.T, seed string) func() {
			p := startProcess(t, binary(t, "node"), "-n", "x", "-p", "-1", "--cluster_name", clusterName(t), "--cluster", "nats://127.0.0.1:-1", "--routes", seed)
			return func() {
				require.NoError(t, p.cmd.Process.Kill())
				_ = p.wait(t)
			}
		}},
		{"stock nats-server SIGTERM", mesh.Left, func(t *testing.T, seed string) func() {
			p := startProcess(t, binary(t, "nats-server"), "-n", "x", "-a", "127.0.0.1", "-p", "-1",
				"--cluster_name", clusterName(t), "--cluster", "nats://127.0.0.1:-1", "--routes", seed)
			return func() {
				require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
				_ = p.wait(t)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ra := startNode(t, options.Options{Name: "a"})
			b, rb := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL()})
			ra.waitEvent(t, "+b") // a and b meet before x comes and goes
			rb.waitEvent(t, "+a")
			stop := tt.start(t, a.ClusterURL())
			ra.waitEvent(t, "+x")
			rb.waitEvent(t, "+x") // b learned x from a: a full mesh
			stop()
			want := "-x:" + tt.want.String()
			ra.waitEvent(t, want)
			rb.waitEvent(t, want)
			for _, r := range []*recorder{ra, rb} {
				assert.Equal(t, []string{"+b", "+x", want}[1:], without(r.snapshot(), "+b", "+a"))
			}
			assert.Len(t, a.Peers(), 1)
			assert.Len(t, b.Peers(), 1)
		})
	}
}

func without(events []string, drop ...string) []string {
	var out []string
	for _, e := range events {
		keep := true
		for _, d := range drop {
			keep = keep && e != d
		}
		if keep {
			out = append(out, e)
		}
	}
	return out
}

// TestSlowHook: a hook that blocks delays the hooks after it, never the
// server: the mesh forms and messages flow while it blocks.
func TestSlowHook(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	joined := make(chan string, 10)
	a, err := mesh.Start(options.Options{Name: "a", Cluster: clusterName(t), Hooks: options.Hooks{
		PeerJoined: func(p mesh.Peer) {
			once.Do(func() { <-release })
			joined <- p.Name
		},
	}})
	require.NoError(t, err)
	defer a.Shutdown()
	b, _ := startNode(t, options.Options{Name: "b", Seed: a.ClusterURL()})
	c, _ := startNode(t, options.Options{Name: "c", Seed: a.ClusterURL()})
	require.NoError(t, b.WaitForPeers(ctxFor(t), 2))
	require.NoError(t, c.WaitForPeers(ctxFor(t), 2))

	// Messages cross a while its first hook blocks.
	sub, err := a.Connect()
	require.NoError(t, err)
	defer sub.Close()
	s, err := sub.SubscribeSync("slow")
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	require.NoError(t, b.WaitForInterest(ctxFor(t), "slow"))
	pub, err := b.Connect()
	require.NoError(t, err)
	defer pub.Close()
	require.NoError(t, pub.Publish("slow", []byte("x")))
	_, err = s.NextMsg(waitTimeout)
	require.NoError(t, err)
	assert.Empty(t, joined, "no hook may run while the first one blocks")

	close(release)
	var got []string
	for range 2 {
		select {
		case name := <-joined:
			got = append(got, name)
		case <-time.After(waitTimeout):
			t.Fatal("hooks did not resume")
		}
	}
	assert.ElementsMatch(t, []string{"b", "c"}, got)
}

// rejoinCase restarts one node of a three-node mesh a <- b, c (b and c
// seeded from a).
type rejoinCase struct {
	name    string
	restart int // index of the node restarted
	// seed returns the restarted node's seed, given the running peers.
	seed func(nodes []*mesh.Node) string
}

var rejoinCases = []rejoinCase{
	{"non-seed node, seeded from the seed", 2, func(n []*mesh.Node) string { return n[0].ClusterURL() }},
	{"seed node, seeded from a peer", 0, func(n []*mesh.Node) string { return n[1].ClusterURL() }},
	// b and c have an explicit route to a; nats-server redials it every
	// second.
	{"seed node, no seed", 0, func([]*mesh.Node) string { return "" }},
}

// rejoin runs rc and returns the time from the restarted node's Start to
// the last of its peers reporting it joined, and a description of each
// peer's time.
func rejoin(tb testing.TB, rc rejoinCase) (time.Duration, string) {
	tb.Helper()
	nodes := make([]*mesh.Node, 3)
	logs := make([]*recorder, 3)
	for i := range nodes {
		o := options.Options{Name: meshtest.Name(i)}
		if i > 0 {
			o.Seed = nodes[0].ClusterURL()
		}
		nodes[i], logs[i] = startNode(tb, o)
	}
	for _, n := range nodes {
		if err := n.WaitForPeers(boundCtx(tb, waitTimeout), 2); err != nil {
			tb.Fatal(err)
		}
	}
	old := nodes[rc.restart]
	name, oldID := old.Name(), old.ID()
	port, cport := nodePorts(old)
	var peers []int
	for i := range nodes {
		if i != rc.restart {
			peers = append(peers, i)
		}
	}
	old.Shutdown()
	for _, i := range peers {
		logs[i].await(tb, waitTimeout, nodes[i].Name()+" to report "+name+" left", isEvent(name, false, mesh.Left))
	}

	start := time.Now()
	n, h := startNode(tb, options.Options{Name: name, Port: port, ClusterPort: cport, Seed: rc.seed(nodes)})
	var last time.Time
	var each []string
	for _, i := range peers {
		e := logs[i].await(tb, waitTimeout, nodes[i].Name()+" to see "+name+" rejoin",
			func(e hookEvent) bool { return e.joined && e.id == n.ID() })
		each = append(each, fmt.Sprintf("%s after %s", nodes[i].Name(), e.at.Sub(start).Round(time.Millisecond)))
		if e.at.After(last) {
			last = e.at
		}
	}
	if err := n.WaitForPeers(boundCtx(tb, waitTimeout), 2); err != nil {
		tb.Fatal(err)
	}
	for _, i := range peers {
		var got []string
		for _, e := range logs[i].all() {
			if e.name == name {
				got = append(got, fmt.Sprintf("%v %s", e, map[string]string{oldID: "old", n.ID(): "new"}[e.id]))
			}
		}
		want := []string{"+" + name + " old", "-" + name + ":left old", "+" + name + " new"}
		if !slices.Equal(want, got) {
			tb.Errorf("%s's events about %s: got %v, want %v", nodes[i].Name(), name, got, want)
		}
		// Nothing else happened: the peer's only other event is the join
		// of the third node.
		if all := logs[i].all(); len(all) != len(want)+1 {
			tb.Errorf("%s's events: got %v, want the three about %s and one join", nodes[i].Name(), all, name)
		}
		if p := logs[i].problems(); len(p) > 0 {
			tb.Errorf("history of %s: %v", nodes[i].Name(), p)
		}
	}
	if p := h.problems(); len(p) > 0 {
		tb.Errorf("history of the restarted %s: %v", name, p)
	}
	return last.Sub(start), strings.Join(each, ", ")
}

// TestRejoin: a node restarted with the same name and ports (a new ID) is
// reported leaving once and joining once by every peer, and nothing else is
// reported. The time from its
// restart to the last peer's PeerJoined is logged: with an explicit route
// to the restarted node (it was the others' seed) and no seed of its own,
// the peers find it on nats-server's route redial, which runs every
// second.
func TestRejoin(t *testing.T) {
	for _, rc := range rejoinCases {
		t.Run(rc.name, func(t *testing.T) {
			d, each := rejoin(t, rc)
			t.Logf("restart to every peer reporting the join: %s (%s)", d.Round(time.Millisecond), each)
		})
	}
}

// BenchmarkRejoin reports rejoin-ms: from a restarted node's Start to the
// last peer's PeerJoined, per case of TestRejoin.
func BenchmarkRejoin(b *testing.B) {
	for _, rc := range rejoinCases {
		b.Run(strings.ReplaceAll(rc.name, " ", "_"), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				it := &iterTB{TB: b}
				d, _ := rejoin(it, rc)
				total += d
				it.end()
			}
			b.ReportMetric(float64(total)/float64(time.Millisecond)/float64(b.N), "rejoin-ms")
		})
	}
}
