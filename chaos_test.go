package natsmesh_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// The chaos test: a five-node mesh under random kills, restarts and route
// faults, with clients publishing throughout.
//
// Nodes a to d run in this process, each behind a meshtest.Proxy that it
// advertises as its route address, so every route dialed to it crosses
// the proxy. Node e is a child process (examples/node), so that it can be
// killed for real (SIGKILL) as well as stopped (SIGTERM).
//
// Each step is one of:
//   - kill a live node (while more than chaosMinLive are live): Shutdown
//     or Leave for a-d, whose proxy then refuses connections as a dead
//     node's port would; SIGKILL or SIGTERM for e;
//   - restart a dead node, same name and ports, seeded from a random live
//     node;
//   - blackhole a live node's proxy (every route dialed to it goes silent
//     without closing) for a random 0.3-4 s, then heal;
//   - delay a live node's proxy by 1-50 ms for a second, then heal;
//   - cut a live node's routes (silent, and new connections refused) for
//     0.3-4 s, then heal: the peers that lost it redial it (see
//     TestGossipedRouteHeals).
//
// After every step, within chaosConverge (10 s: a silent route takes up
// to about 3.2 s to be dropped and an explicit route is redialed every
// second, so 10 s leaves room for -race on a loaded two-core machine),
// and once no hook has run for chaosSettle (300 ms, so that the effects of
// a step are not mistaken for those of the next):
//   - every live node's view (Peers for a-d, the hooks it printed for e)
//     is exactly the set of the other live nodes, with their current IDs;
//   - every node's hook history is consistent: for each peer ID joins and
//     leaves alternate, starting with a join;
//   - the step caused only the events it should have: after a kill, only
//     the killed node leaving, Left for a goodbye and Lost for SIGKILL;
//     after a restart, no leave at all; after a route fault, only leaves
//     (Lost) of the faulty node's routes, and no leave at all for a delay.
//
// Every node runs clustered JetStream (its store kept across its
// restarts) and the mesh carries an R3 stream with a replica on e: a
// writer publishes with message IDs and retries throughout, and after
// every step (see chaosStream.check) every message acknowledged so far
// must be in the stream, once, unless two of its three nodes are down.
//
// After all nodes, proxies and clients are shut down, no goroutine is left
// (goleak).
//
// NATSMESH_CHAOS_SEED sets the random seed (it is logged),
// NATSMESH_CHAOS_DURATION how long to keep starting steps (default 40s,
// 10s with -short), and NATSMESH_CHAOS_LOG=info makes the in-process
// nodes' log (shown if the test fails) include nats-server's notices.
const (
	chaosConverge        = 10 * time.Second
	chaosSettle          = 300 * time.Millisecond
	chaosDefaultDuration = 40 * time.Second
	chaosMinLive         = 3
	chaosMaxSteps        = 200
)

// chaosNode is one name of the mesh, through its restarts.
type chaosNode struct {
	name        string
	child       bool // examples/node process (else in process, behind proxy)
	port, cport int
	proxy       *meshtest.Proxy
	store       string // JetStream store, kept across restarts

	alive bool
	id    string
	// In process.
	node *mesh.Node
	log  *recorder
	// Child process, and a channel closed when it has exited.
	proc   *process
	exited chan struct{}
	// Every incarnation's history, for the final check.
	logs  []*recorder
	procs []*process
}

// routeURL is what other nodes seed from.
func (n *chaosNode) routeURL() string {
	if n.proxy != nil {
		return n.proxy.URL()
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", n.cport)
}

func (n *chaosNode) clientURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

type chaosRun struct {
	t         *testing.T
	cluster   string // the mesh's cluster name, its own
	rng       *rand.Rand
	nodes     []*chaosNode
	serverLog *syncbuf.Buffer
	// afterConverge checks what the last step caused, once the mesh has
	// converged.
	afterConverge func()
}

func TestChaos(t *testing.T) {
	before := goleak.IgnoreCurrent()
	// Registered first, so it runs after every other cleanup: nodes,
	// proxies, clients and processes are gone by then.
	t.Cleanup(func() {
		goleak.VerifyNone(t, before)
	})

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NATSMESH_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("NATSMESH_CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	budget := chaosDefaultDuration
	if testing.Short() {
		budget = 10 * time.Second
	}
	if s := os.Getenv("NATSMESH_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("NATSMESH_CHAOS_DURATION=%q: %v", s, err)
		}
		budget = d
	}
	t.Logf("chaos seed %d (NATSMESH_CHAOS_SEED=%d reproduces the sequence of steps), duration %s", seed, seed, budget)

	r := &chaosRun{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), serverLog: &syncbuf.Buffer{},
		// Tests running at the same time on the machine (other packages,
		// other checkouts) also name their nodes a, b, c: one that
		// learned a port this test now uses would redial it and, with
		// the same cluster name, join this mesh; a second JetStream
		// server named "a" muddles the meta leader's view of the first.
		cluster: fmt.Sprintf("chaos-%d-%d", os.Getpid(), seed%1_000_000)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings and errors of the in-process nodes:\n%s", r.serverLog)
		}
	})
	bin := binary(t, "node")
	for i := range 5 {
		n := &chaosNode{name: meshtest.Name(i), child: i == 4, store: t.TempDir()}
		if !n.child {
			n.proxy = meshtest.NewProxy(t, "")
		}
		r.nodes = append(r.nodes, n)
	}
	for i, n := range r.nodes {
		seed := ""
		if i > 0 {
			seed = r.nodes[0].routeURL()
		}
		r.start(n, bin, seed)
	}
	r.converge("initial mesh")

	traffic := startChaosTraffic(t, r.nodes)
	stream := startChaosStream(t, r)

	start := time.Now()
	stats := map[string][]time.Duration{}
	steps := 0
	for ; time.Since(start) < budget && steps < chaosMaxSteps; steps++ {
		what, kind := r.step(bin)
		took := r.converge(what)
		stats[kind] = append(stats[kind], took)
		t.Logf("step %2d at %5.1fs: %s; converged in %s", steps+1, time.Since(start).Seconds(), what, took.Round(time.Millisecond))
		r.checkHistories()
		stream.check(r, what)
	}
	// Bring every node back and check once more.
	for _, n := range r.nodes {
		if !n.alive {
			r.start(n, bin, r.randomLive(n).routeURL())
			took := r.converge("restart " + n.name + " (final)")
			t.Logf("final restart of %s converged in %s", n.name, took.Round(time.Millisecond))
		}
	}
	r.checkHistories()
	traffic.check(t)
	stream.check(r, "the final restarts")
	t.Logf("chaos: %d steps in %.1fs; clients published %d messages, the subscriber received %d",
		steps, time.Since(start).Seconds(), traffic.published.Load(), traffic.received.Load())
	for _, kind := range slices.Sorted(maps.Keys(stats)) {
		d := stats[kind]
		slices.Sort(d)
		t.Logf("  %-9s x%-2d convergence after the step: median %s, max %s",
			kind, len(d), d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
	t.Logf("stream CHAOS: %d messages acknowledged, all there at each of %d checks (%d skipped: no quorum); longest time without an acknowledgement %s",
		stream.w.count(), stream.checks, stream.skipped, stream.w.resetGap().Round(time.Millisecond))
}

// start starts (or restarts) n, same name and ports, seeded from seed.
func (r *chaosRun) start(n *chaosNode, bin, seed string) {
	r.t.Helper()
	if n.child {
		r.startChild(n, bin, seed)
		return
	}
	level := slog.LevelWarn
	if os.Getenv("NATSMESH_CHAOS_LOG") == "info" {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(r.serverLog, &slog.HandlerOptions{Level: level}))
	for attempt := 0; ; attempt++ {
		if n.cport == 0 {
			n.port, n.cport = freePort(r.t), freePort(r.t)
		}
		// The proxy passes before the node starts: a peer that learns
		// the node by gossip dials it at once, and nats-server does not
		// retry a gossiped route whose first dial failed.
		n.proxy.SetTarget(fmt.Sprintf("127.0.0.1:%d", n.cport))
		n.proxy.Pass()
		o := options.Options{
			Name: n.name, Port: n.port, ClusterPort: n.cport, Seed: seed, Cluster: r.cluster,
			ClusterAdvertise: n.proxy.Addr(),
			JetStream:        true, StoreDir: n.store,
			// Less store than the node process has (its default is most
			// of the free disk), so that the meta leader, which places a
			// stream on the nodes with the most room, puts a replica of
			// the chaos stream on the process, which a step may SIGKILL.
			ServerOptions:    func(o *server.Options) { o.JetStreamMaxStore = 1 << 30 },
			LameDuckDuration: 300 * time.Millisecond,
			Logger:           logger,
		}
		node, h, err := tryStartNode(r.t, o, (*recorder).hooks)
		if err != nil {
			n.proxy.Drop()
			if attempt == 0 {
				// A port was taken while the node was down (by an
				// outgoing connection, say): take new ones.
				r.t.Logf("start of %s on ports %d/%d failed (%v); using new ports", n.name, n.port, n.cport, err)
				n.port, n.cport = 0, 0
				continue
			}
			r.t.Fatalf("start %s: %v", n.name, err)
		}
		n.node, n.log, n.id, n.alive = node, h, node.ID(), true
		n.logs = append(n.logs, h)
		return
	}
}

var chaosReadyLine = regexp.MustCompile(`node (\S+) ready: clients (\S+)`)

func (r *chaosRun) startChild(n *chaosNode, bin, seed string) {
	r.t.Helper()
	for attempt := 0; ; attempt++ {
		if n.port == 0 {
			n.port, n.cport = freePort(r.t), freePort(r.t)
		}
		args := []string{"-n", n.name, "-p", strconv.Itoa(n.port), "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.cport),
			"--cluster_name", r.cluster, "-js", "-sd", n.store}
		if seed != "" {
			args = append(args, "--routes", seed)
		}
		p := startProcess(r.t, bin, args...)
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			_ = p.cmd.Wait()
		}()
		// Runs before startProcess's cleanup, which then finds the
		// process waited for.
		r.t.Cleanup(func() {
			_ = p.cmd.Process.Kill()
			<-exited
		})
		ready := false
		deadline := time.Now().Add(waitTimeout)
		for !ready && time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
			default:
				ready = chaosReadyLine.MatchString(p.out.String())
				if !ready {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}
		if !ready {
			_ = p.cmd.Process.Kill()
			<-exited
			if attempt == 0 {
				r.t.Logf("start of %s on ports %d/%d failed (%s); using new ports", n.name, n.port, n.cport, strings.TrimSpace(p.out.String()))
				n.port, n.cport = 0, 0
				continue
			}
			r.t.Fatalf("%s did not start:\n%s", n.name, p.out)
		}
		nc, err := nats.Connect(n.clientURL(), nats.NoReconnect())
		if err != nil {
			r.t.Fatalf("connect to %s for its ID: %v", n.name, err)
		}
		n.id = nc.ConnectedServerId()
		nc.Close()
		n.proc, n.exited, n.alive = p, exited, true
		n.procs = append(n.procs, p)
		return
	}
}

func (r *chaosRun) live() []*chaosNode {
	var out []*chaosNode
	for _, n := range r.nodes {
		if n.alive {
			out = append(out, n)
		}
	}
	return out
}

func (r *chaosRun) randomLive(except *chaosNode) *chaosNode {
	var c []*chaosNode
	for _, n := range r.live() {
		if n != except {
			c = append(c, n)
		}
	}
	return c[r.rng.IntN(len(c))]
}

// mark is where each live node's history stands, to check what a step
// caused.
type chaosMark map[*chaosNode]int

func (r *chaosRun) mark() chaosMark {
	m := chaosMark{}
	for _, n := range r.live() {
		m[n] = len(r.events(n))
	}
	return m
}

// events returns n's current incarnation's hook history.
func (r *chaosRun) events(n *chaosNode) []hookEvent {
	if n.child {
		return childEvents(n.proc.out.String())
	}
	return n.log.all()
}

var chaosHookLine = regexp.MustCompile(`(?m)^\S+  ([+-]) (\S+) +(joined|left|lost)`)

// childEvents parses the hooks examples/node printed (names only: it does
// not print IDs, so the ID is the name).
func childEvents(out string) []hookEvent {
	var evs []hookEvent
	for _, m := range chaosHookLine.FindAllStringSubmatch(out, -1) {
		e := hookEvent{name: m[2], id: m[2], joined: m[1] == "+"}
		switch m[3] {
		case "left":
			e.why = mesh.Left
		case "lost":
			e.why = mesh.Lost
		}
		evs = append(evs, e)
	}
	return evs
}

// since returns the events of n after m.
func (r *chaosRun) since(m chaosMark, n *chaosNode) []hookEvent {
	evs := r.events(n)
	if i, ok := m[n]; ok && i <= len(evs) {
		return evs[i:]
	}
	return evs
}

// step runs one random step and checks what it caused once the mesh has
// converged again. It returns a description and the kind of step.
func (r *chaosRun) step(bin string) (string, string) {
	r.t.Helper()
	live := r.live()
	var dead []*chaosNode
	for _, n := range r.nodes {
		if !n.alive {
			dead = append(dead, n)
		}
	}
	var kinds []string
	if len(live) > chaosMinLive {
		kinds = append(kinds, "kill", "kill")
	}
	if len(dead) > 0 {
		kinds = append(kinds, "restart", "restart")
	}
	var proxied []*chaosNode
	for _, n := range live {
		if n.proxy != nil {
			proxied = append(proxied, n)
		}
	}
	if len(proxied) > 0 {
		kinds = append(kinds, "blackhole", "blackhole", "delay", "cut")
	}
	kind := kinds[r.rng.IntN(len(kinds))]
	m := r.mark()

	switch kind {
	case "kill":
		n := live[r.rng.IntN(len(live))]
		how, want := r.kill(n)
		what := fmt.Sprintf("kill %s (%s)", n.name, how)
		r.afterConverge = func() {
			for _, v := range r.live() {
				evs := r.since(m, v)
				wantID := n.id
				if v.child {
					wantID = n.name
				}
				if len(evs) != 1 || evs[0].joined || evs[0].id != wantID || evs[0].why != want {
					r.t.Errorf("%s: %s should have reported only %s leaving (%s), got %v", what, v.name, n.name, want, evs)
				}
			}
		}
		return what, "kill-" + how
	case "restart":
		n := dead[r.rng.IntN(len(dead))]
		via := r.randomLive(n)
		r.start(n, bin, via.routeURL())
		what := fmt.Sprintf("restart %s seeded from %s", n.name, via.name)
		r.afterConverge = func() {
			for _, v := range r.live() {
				for _, e := range r.since(m, v) {
					if !e.joined {
						r.t.Errorf("%s: %s reported %v", what, v.name, e)
					}
				}
			}
		}
		return what, "restart"
	default:
		n := proxied[r.rng.IntN(len(proxied))]
		var what string
		switch kind {
		case "blackhole":
			hold := 300*time.Millisecond + time.Duration(r.rng.Int64N(int64(3700*time.Millisecond)))
			what = fmt.Sprintf("blackhole %s's routes for %s", n.name, hold.Round(time.Millisecond))
			n.proxy.Blackhole()
			r.hold(hold)
		case "cut":
			hold := 300*time.Millisecond + time.Duration(r.rng.Int64N(int64(3700*time.Millisecond)))
			what = fmt.Sprintf("cut %s's routes for %s", n.name, hold.Round(time.Millisecond))
			n.proxy.Cut()
			r.hold(hold)
		default:
			d := time.Millisecond + time.Duration(r.rng.Int64N(int64(49*time.Millisecond)))
			what = fmt.Sprintf("delay %s's routes by %s for 1s", n.name, d.Round(time.Millisecond))
			n.proxy.Delay(d)
			r.hold(time.Second)
		}
		n.proxy.Pass()
		r.afterConverge = func() {
			for _, v := range r.live() {
				for _, e := range r.since(m, v) {
					switch {
					case kind == "delay" && !e.joined:
						r.t.Errorf("%s: %s reported %v", what, v.name, e)
					case !e.joined && e.why != mesh.Lost:
						r.t.Errorf("%s: %s reported %v: a cut route is lost, not left", what, v.name, e)
					case v != n && e.name != n.name:
						r.t.Errorf("%s: %s reported %v, which the fault did not touch", what, v.name, e)
					}
				}
			}
		}
		return what, kind
	}
}

// hold lets a fault last d: the fault's duration, not a wait for a
// condition.
func (r *chaosRun) hold(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	<-tm.C
}

// kill stops n, one of several ways, and returns how and the reason its
// peers must report.
func (r *chaosRun) kill(n *chaosNode) (string, mesh.LeaveReason) {
	r.t.Helper()
	n.alive = false
	if n.child {
		if r.rng.IntN(2) == 0 {
			_ = n.proc.cmd.Process.Signal(syscall.SIGKILL)
			n.waitExit(r.t)
			return "SIGKILL", mesh.Lost
		}
		_ = n.proc.cmd.Process.Signal(syscall.SIGTERM)
		n.waitExit(r.t)
		return "SIGTERM", mesh.Left
	}
	// Once the node's closes (and the goodbye before them) have crossed
	// the proxy, its port refuses connections, as a dead node's does.
	defer func() {
		pollUntil(r.t, waitTimeout, n.name+"'s routes to close", func() bool { return n.proxy.Conns() == 0 })
		n.proxy.Drop()
	}()
	if r.rng.IntN(2) == 0 {
		n.node.Shutdown()
		return "Shutdown", mesh.Left
	}
	if err := n.node.Leave(boundCtx(r.t, waitTimeout)); err != nil {
		r.t.Errorf("leave %s: %v", n.name, err)
	}
	return "Leave", mesh.Left
}

// converge waits, at most chaosConverge, until every live node sees
// exactly the other live nodes and no hook has run for chaosSettle, then
// runs the step's own check. It returns the time from its call to the
// last change.
func (r *chaosRun) converge(what string) time.Duration {
	r.t.Helper()
	start := time.Now()
	lastChange, lastCount := start, -1
	for {
		why := r.divergence()
		count := 0
		for _, n := range r.live() {
			count += len(r.events(n))
		}
		now := time.Now()
		if why != "" || count != lastCount {
			lastChange, lastCount = now, count
		}
		if why == "" && now.Sub(lastChange) >= chaosSettle {
			break
		}
		if now.Sub(start) > chaosConverge {
			r.t.Fatalf("after %q the mesh did not converge within %s: %s\n%s", what, chaosConverge, why, r.routes())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.afterConverge != nil {
		r.afterConverge()
		r.afterConverge = nil
	}
	return lastChange.Sub(start)
}

// routes describes the route connections of the in-process nodes and the
// state of the proxies, for a failure message.
func (r *chaosRun) routes() string {
	var b strings.Builder
	for _, n := range r.nodes {
		if n.proxy != nil {
			fmt.Fprintf(&b, "%s: proxy %s %s (%d open) -> %s", n.name, n.proxy.Addr(), n.proxy.Mode(), n.proxy.Conns(), n.proxy.Target())
		} else {
			fmt.Fprintf(&b, "%s: routes on 127.0.0.1:%d", n.name, n.cport)
		}
		if !n.alive {
			b.WriteString(", down\n")
			continue
		}
		if n.node != nil && !n.child {
			rz, err := n.node.Server().Routez(nil)
			if err == nil {
				for _, rt := range rz.Routes {
					fmt.Fprintf(&b, "; route to %s at %s:%d (solicited %v)", rt.RemoteName, rt.IP, rt.Port, rt.DidSolicit)
				}
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// divergence returns "" if every live node sees exactly the other live
// nodes (with their current IDs), or what differs.
func (r *chaosRun) divergence() string {
	live := r.live()
	var diffs []string
	for _, v := range live {
		want := map[string]string{}
		for _, p := range live {
			if p != v {
				want[p.name] = p.id
			}
		}
		got := map[string]string{}
		if v.child {
			for _, e := range childEvents(v.proc.out.String()) {
				if e.joined {
					got[e.name] = ""
				} else {
					delete(got, e.name)
				}
			}
			for k := range want {
				want[k] = ""
			}
		} else {
			for _, p := range v.node.Peers() {
				got[p.Name] = p.ID
			}
		}
		if !maps.Equal(want, got) {
			diffs = append(diffs, fmt.Sprintf("%s sees %v, want %v", v.name, chaosKeys(got), chaosKeys(want)))
		}
	}
	return strings.Join(diffs, "; ")
}

func chaosKeys(m map[string]string) []string {
	var out []string
	for k, v := range m {
		if v != "" {
			k += "(" + v[:6] + ")"
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkHistories checks every incarnation's hook history: per peer ID,
// joins and leaves alternate, starting with a join.
func (r *chaosRun) checkHistories() {
	r.t.Helper()
	for _, n := range r.nodes {
		for i, h := range n.logs {
			if p := h.problems(); len(p) > 0 {
				r.t.Errorf("history of %s (incarnation %d): %v\n%v", n.name, i+1, p, h)
			}
		}
		for i, p := range n.procs {
			h := &recorder{events: childEvents(p.out.String())}
			if pr := h.problems(); len(pr) > 0 {
				r.t.Errorf("history of %s (process %d): %v\n%s", n.name, i+1, pr, p.out)
			}
		}
	}
}

// waitExit waits, bounded, for n's process to exit.
func (n *chaosNode) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-n.exited:
	case <-time.After(waitTimeout):
		_ = n.proc.cmd.Process.Kill()
		t.Fatalf("%s did not exit within %s", n.name, waitTimeout)
	}
}

// chaosTraffic is clients publishing throughout: three publishers and a
// subscriber, TCP, reconnecting on their own.
type chaosTraffic struct {
	published, received atomic.Int64
	perPub              [3]atomic.Int64 // received, per publisher
	stop                chan struct{}
	wg                  sync.WaitGroup
}

func startChaosTraffic(t *testing.T, nodes []*chaosNode) *chaosTraffic {
	t.Helper()
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.clientURL())
	}
	dial := func(name string, i int) *nats.Conn {
		// Each client starts on a different node; all know every URL.
		order := append(slices.Clone(urls[i%len(urls):]), urls[:i%len(urls)]...)
		nc, err := nats.Connect(strings.Join(order, ","), nats.Name(name), nats.DontRandomize(),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
			nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
			nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond))
		if err != nil {
			t.Fatalf("client %s: %v", name, err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	tr := &chaosTraffic{stop: make(chan struct{})}
	sub := dial("subscriber", 3)
	_, err := sub.Subscribe("chaos.*", func(m *nats.Msg) {
		tr.received.Add(1)
		if i, err := strconv.Atoi(strings.TrimPrefix(m.Subject, "chaos.")); err == nil && i < len(tr.perPub) {
			tr.perPub[i].Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range tr.perPub {
		nc := dial(fmt.Sprintf("publisher-%d", i), i)
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			subject := fmt.Sprintf("chaos.%d", i)
			for {
				select {
				case <-tr.stop:
					return
				case <-tick.C:
					if nc.Publish(subject, []byte("x")) == nil {
						tr.published.Add(1)
					}
				}
			}
		}()
	}
	t.Cleanup(func() {
		select {
		case <-tr.stop:
		default:
			close(tr.stop)
		}
		tr.wg.Wait()
	})
	return tr
}

// check: with the mesh whole again, every publisher reaches the
// subscriber.
func (tr *chaosTraffic) check(t *testing.T) {
	t.Helper()
	var base [3]int64
	for i := range base {
		base[i] = tr.perPub[i].Load()
	}
	pollUntil(t, waitTimeout, "every publisher to reach the subscriber", func() bool {
		for i := range base {
			if tr.perPub[i].Load() < base[i]+20 {
				return false
			}
		}
		return true
	})
}

// chaosStream is the JetStream part of the chaos test: an R3 stream
// (file storage) that a writer on a TCP client of every node publishes to
// throughout (jsWriter: message IDs, every unacknowledged message retried
// with its ID, one every chaosWritePace), and what the checks read of it.
type chaosStream struct {
	js       jetstream.JetStream
	w        *jsWriter
	replicas []string // the names of the nodes that hold it

	seen    map[uint64]string // sequence -> message ID, as read
	read    uint64            // highest sequence read
	checks  int
	skipped int
}

// chaosWritePace keeps the stream small enough to read back after every
// step (a few thousand messages in a run).
const chaosWritePace = 10 * time.Millisecond

// startChaosStream waits for JetStream on the in-process nodes, creates
// the stream and starts the writer.
func startChaosStream(t *testing.T, r *chaosRun) *chaosStream {
	t.Helper()
	for _, n := range r.live() {
		if n.child {
			continue
		}
		if err := n.node.WaitForJetStream(jsCtx(t)); err != nil {
			for _, v := range r.live() {
				if !v.child {
					jsz, _ := v.node.Server().Jsz(nil)
					if jsz != nil && jsz.Meta != nil {
						t.Logf("%s's view of the meta group: leader %q, size %d, replicas %+v", v.name, jsz.Meta.Leader, jsz.Meta.Size, jsz.Meta.Replicas)
					}
				}
			}
			t.Fatalf("JetStream on %s: %v", n.name, err)
		}
	}
	var urls []string
	for _, n := range r.nodes {
		urls = append(urls, n.clientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("chaos-jetstream"),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cs := &chaosStream{js: js, seen: map[uint64]string{}}
	// The meta leader places the stream on three of the five nodes. One
	// of them should be the node process, which a step may SIGKILL (see
	// the store limit in start): a placement without it (the process not
	// caught up yet, say) is deleted and made again, a few times.
	child := r.nodes[len(r.nodes)-1].name
	for attempt := 0; attempt < 8 && !slices.Contains(cs.replicas, child); attempt++ {
		if attempt > 0 {
			retryJS(t, "delete stream CHAOS", func(ctx context.Context) error {
				err := js.DeleteStream(ctx, "CHAOS")
				if errors.Is(err, jetstream.ErrStreamNotFound) {
					return nil
				}
				return err
			})
		}
		retryJS(t, "create stream CHAOS", func(ctx context.Context) error {
			s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "CHAOS", Subjects: []string{"durable"}, Replicas: 3})
			if err != nil {
				return err
			}
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				return errors.New("stream CHAOS not fully placed yet")
			}
			cs.replicas = []string{info.Cluster.Leader, info.Cluster.Replicas[0].Name, info.Cluster.Replicas[1].Name}
			return nil
		})
	}
	t.Logf("stream CHAOS (R3) on %v", cs.replicas)
	cs.w = startPacedWriter(t, js, "durable", chaosWritePace)
	cs.w.waitMore(t, 20, "to stream CHAOS before the first step")
	return cs
}

// check reads the stream's messages that are new since the last check,
// and a sample of older ones again (they must not have changed), and
// checks that every message acknowledged before the check is there once.
// While two of the stream's three nodes are down the stream has no
// quorum, so nothing can be read: the check is skipped (the next one
// covers what this one would have). A message found missing is read again
// for a while before it counts: a node that was just cut off may still
// answer as the stream's leader for a moment.
func (cs *chaosStream) check(r *chaosRun, what string) {
	t := r.t
	t.Helper()
	up := 0
	for _, n := range r.live() {
		if slices.Contains(cs.replicas, n.name) {
			up++
		}
	}
	if up < 2 {
		cs.skipped++
		t.Logf("  stream CHAOS: %d of its nodes %v up, no quorum: not checked after %q", up, cs.replicas, what)
		return
	}
	cs.checks++
	acked := cs.w.ackedSoFar()
	start := time.Now()
	deadline := start.Add(jsTimeout)
	for attempt := 0; ; attempt++ {
		missing, dups := cs.readNew(t, what, attempt == 0, acked)
		if len(missing) == 0 && len(dups) == 0 {
			if took := time.Since(start); took > time.Second {
				t.Logf("  stream CHAOS: checking took %s (%d messages)", took.Round(time.Millisecond), cs.read)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %q: stream CHAOS: %d of %d acknowledged messages missing (first: %v), %d stored twice (%v)",
				what, len(missing), len(acked), missing[:min(len(missing), 5)], len(dups), dups[:min(len(dups), 5)])
			return
		}
		// Read everything again from the start.
		t.Logf("  stream CHAOS after %q: %d missing, %d twice; reading it again", what, len(missing), len(dups))
		cs.seen, cs.read = map[uint64]string{}, 0
		time.Sleep(500 * time.Millisecond)
	}
}

// readNew reads the stream from cs.read+1 to its last message (and, with
// resample, up to 20 earlier messages again), and returns the IDs of
// acked that it has not seen and the IDs seen more than once.
func (cs *chaosStream) readNew(t *testing.T, what string, resample bool, acked []string) (missing, dups []string) {
	t.Helper()
	var s jetstream.Stream
	var info *jetstream.StreamInfo
	retryJS(t, "stream CHAOS info after "+what, func(ctx context.Context) (err error) {
		if s, err = cs.js.Stream(ctx, "CHAOS"); err == nil {
			info, err = s.Info(ctx)
		}
		return err
	})
	get := func(seq uint64) string {
		var id string
		retryJS(t, fmt.Sprintf("stream CHAOS message %d after %s", seq, what), func(ctx context.Context) error {
			m, err := s.GetMsg(ctx, seq)
			if err == nil {
				id = m.Header.Get(nats.MsgIdHdr)
			}
			return err
		})
		return id
	}
	if resample && cs.read > 0 {
		for range 20 {
			seq := 1 + rand.Uint64N(cs.read)
			if id := get(seq); id != cs.seen[seq] {
				t.Errorf("after %q: stream CHAOS message %d is now %q, was %q", what, seq, id, cs.seen[seq])
			}
		}
	}
	for seq := cs.read + 1; seq <= info.State.LastSeq; seq++ {
		cs.seen[seq] = get(seq)
	}
	cs.read = max(cs.read, info.State.LastSeq)
	count := map[string]int{}
	for _, id := range cs.seen {
		count[id]++
		if count[id] == 2 {
			dups = append(dups, id)
		}
	}
	for _, id := range acked {
		if count[id] == 0 {
			missing = append(missing, id)
		}
	}
	return missing, dups
}
