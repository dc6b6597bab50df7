package natsmesh_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// Helpers shared by the root tests: bounded waits, the hook recorder,
// starting nodes (each test with a cluster name of its own), ports,
// contexts, child processes (examples/node, stock nats-server), route
// proxies, and JetStream nodes with a careful writer (jsWriter, shared by
// the JetStream and chaos tests). Fixtures used by one behaviour's tests
// only stay in its file.

// waitTimeout bounds every wait in these tests; conditions normally hold
// within milliseconds.
const waitTimeout = 15 * time.Second

// eventually fails the test unless cond holds within waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	pollUntil(t, waitTimeout, what, cond)
}

// pollUntil fails tb unless cond holds within timeout. It polls every
// millisecond.
func pollUntil(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// ctxFor returns a context that ends after waitTimeout, or with t.
func ctxFor(t *testing.T) context.Context {
	t.Helper()
	return boundCtx(t, waitTimeout)
}

// boundCtx returns a context that ends after d, or with tb.
func boundCtx(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// hookEvent is one membership hook call.
type hookEvent struct {
	at       time.Time
	name, id string
	joined   bool
	why      mesh.LeaveReason
}

// String is "+name" for a join, "-name:left" or "-name:lost" for a leave.
func (e hookEvent) String() string {
	if e.joined {
		return "+" + e.name
	}
	return "-" + e.name + ":" + e.why.String()
}

// isEvent matches the event of name joining (joined) or leaving for why.
func isEvent(name string, joined bool, why mesh.LeaveReason) func(hookEvent) bool {
	return func(e hookEvent) bool { return e.name == name && e.joined == joined && e.why == why }
}

// recorder is the one hook recorder of these tests: it records what one
// node's hooks report, membership events with their times (checking that
// Peers agrees with each hook while it runs) and, if asked for with
// allHooks, client events, route errors and traffic samples. It works with
// testing.TB, so benchmarks use it too. Its hook methods can also be set
// one by one (o.Hooks.RouteError = rec.routeError).
type recorder struct {
	node atomic.Pointer[mesh.Node]

	mu          sync.Mutex
	events      []hookEvent
	violations  []string
	connected   []mesh.Client
	gone        []mesh.Client
	slow        []mesh.Client
	authFailed  []mesh.Client
	routeErrors []mesh.RouteError
	traffic     []mesh.Traffic
}

// hooks returns the membership hooks (PeerJoined, PeerLeft).
func (r *recorder) hooks() options.Hooks {
	return options.Hooks{
		PeerJoined: func(p mesh.Peer) { r.addPeer(p, true, 0) },
		PeerLeft:   func(p mesh.Peer, why mesh.LeaveReason) { r.addPeer(p, false, why) },
	}
}

// allHooks returns the membership hooks and the message-flow ones (client
// events, route errors, traffic).
func (r *recorder) allHooks() options.Hooks {
	h := r.hooks()
	h.ClientConnected = r.clientConnected
	h.ClientDisconnected = func(c mesh.Client) { r.addClient(&r.gone, c) }
	h.SlowConsumer = func(c mesh.Client) { r.addClient(&r.slow, c) }
	h.AuthFailed = r.authFailure
	h.RouteError = r.routeError
	h.Traffic = func(t mesh.Traffic) { r.mu.Lock(); r.traffic = append(r.traffic, t); r.mu.Unlock() }
	return h
}

func (r *recorder) addPeer(p mesh.Peer, joined bool, why mesh.LeaveReason) {
	e := hookEvent{at: time.Now(), name: p.Name, id: p.ID, joined: joined, why: why}
	var problem string
	if n := r.node.Load(); n != nil {
		in := slices.ContainsFunc(n.Peers(), func(q mesh.Peer) bool { return q.ID == p.ID })
		if in != joined {
			problem = fmt.Sprintf("%v: peer in Peers()=%v while its hook ran", e, in)
		}
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	if problem != "" {
		r.violations = append(r.violations, problem)
	}
	r.mu.Unlock()
}

func (r *recorder) addClient(to *[]mesh.Client, c mesh.Client) {
	r.mu.Lock()
	*to = append(*to, c)
	r.mu.Unlock()
}

// clientConnected is a ClientConnected hook.
func (r *recorder) clientConnected(c mesh.Client) { r.addClient(&r.connected, c) }

// authFailure is an AuthFailed hook.
func (r *recorder) authFailure(c mesh.Client) { r.addClient(&r.authFailed, c) }

// routeError is a RouteError hook.
func (r *recorder) routeError(e mesh.RouteError) {
	r.mu.Lock()
	r.routeErrors = append(r.routeErrors, e)
	r.mu.Unlock()
}

// all returns the membership events so far.
func (r *recorder) all() []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// snapshot returns the membership events so far as strings (see
// hookEvent.String).
func (r *recorder) snapshot() []string {
	var out []string
	for _, e := range r.all() {
		out = append(out, e.String())
	}
	return out
}

// first returns the first event that matches, if any.
func (r *recorder) first(match func(hookEvent) bool) (hookEvent, bool) {
	for _, e := range r.all() {
		if match(e) {
			return e, true
		}
	}
	return hookEvent{}, false
}

// await waits, at most timeout, for an event that matches and returns it.
func (r *recorder) await(tb testing.TB, timeout time.Duration, what string, match func(hookEvent) bool) hookEvent {
	tb.Helper()
	var got hookEvent
	pollUntil(tb, timeout, what, func() bool {
		var ok bool
		got, ok = r.first(match)
		return ok
	})
	return got
}

// waitEvent waits until the recorder has seen event e (as hookEvent.String
// writes it), and returns the ID of the peer it was about.
func (r *recorder) waitEvent(tb testing.TB, e string) string {
	tb.Helper()
	return r.await(tb, waitTimeout, fmt.Sprintf("event %q (have %v)", e, r.snapshot()),
		func(got hookEvent) bool { return got.String() == e }).id
}

// problems checks the history: for each peer ID, joins and leaves
// alternate starting with a join (so nothing is reported twice), and Peers
// agreed with every hook.
func (r *recorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.violations)
	last := map[string]bool{} // id -> last event was a join
	for i, e := range r.events {
		joinedBefore, seen := last[e.id]
		switch {
		case e.joined && seen && joinedBefore:
			out = append(out, fmt.Sprintf("event %d %v (%s): joined twice", i, e, e.id))
		case !e.joined && (!seen || !joinedBefore):
			out = append(out, fmt.Sprintf("event %d %v (%s): left without having joined", i, e, e.id))
		}
		last[e.id] = e.joined
	}
	return out
}

// String lists the membership events with their times, for failure
// messages.
func (r *recorder) String() string {
	var b strings.Builder
	for _, e := range r.all() {
		fmt.Fprintf(&b, "%s %v(%.6s) ", e.at.Format("05.000"), e, e.id)
	}
	return b.String()
}

// find waits for a client named name in the list get returns (read under
// the recorder's lock: pass a func returning r.connected, r.gone, ...).
func (r *recorder) find(tb testing.TB, what string, get func() []mesh.Client, name string) mesh.Client {
	tb.Helper()
	var found mesh.Client
	pollUntil(tb, waitTimeout, fmt.Sprintf("%s of %q", what, name), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range get() {
			if c.Name == name {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// clients returns a copy of one of the recorder's client lists.
func (r *recorder) clients(list *[]mesh.Client) []mesh.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(*list)
}

// refused returns the RouteError values that report a refused route.
func (r *recorder) refused() []mesh.RouteError {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []mesh.RouteError
	for _, e := range r.routeErrors {
		if e.Refused {
			out = append(out, e)
		}
	}
	return out
}

// clusterNames holds the cluster name of each test that has one, by
// test name; clusterSeq numbers them.
var (
	clusterNamesMu sync.Mutex
	clusterNames   = map[string]string{}
	clusterSeq     atomic.Int64
)

// clusterName returns the cluster name (Options.Cluster, --cluster_name)
// shared by tb's nodes and by no other test's, so that parallel tests never
// route into each other: a node that lost its seed redials it for ever, and
// once another test's node is given that port the two meshes would merge
// under the default name. A subtest shares the name of the nearest
// enclosing test that has one (its nodes may seed from the parent's);
// otherwise it gets one of its own, released by tb.Cleanup. The helpers
// that start nodes fill it in when Options.Cluster is empty; tests about
// cluster names set their own.
func clusterName(tb testing.TB) string {
	tb.Helper()
	clusterNamesMu.Lock()
	defer clusterNamesMu.Unlock()
	for name := tb.Name(); ; {
		if c, ok := clusterNames[name]; ok {
			return c
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[:i]
	}
	c := fmt.Sprintf("test-%d-%d", os.Getpid(), clusterSeq.Add(1))
	name := tb.Name()
	clusterNames[name] = c
	tb.Cleanup(func() {
		clusterNamesMu.Lock()
		defer clusterNamesMu.Unlock()
		if clusterNames[name] == c {
			delete(clusterNames, name)
		}
	})
	return c
}

// ownCluster gives o the test's cluster name unless it has one.
func ownCluster(tb testing.TB, o options.Options) options.Options {
	tb.Helper()
	if o.Cluster == "" {
		o.Cluster = clusterName(tb)
	}
	return o
}

// startNode starts a node whose membership hooks go to a new recorder,
// and registers its shutdown (the node may be shut down earlier). The node
// gets the test's cluster name unless o has one.
func startNode(tb testing.TB, o options.Options) (*mesh.Node, *recorder) {
	tb.Helper()
	return startRecorded(tb, o, (*recorder).hooks)
}

// startFlowNode is startNode recording every hook (allHooks).
func startFlowNode(tb testing.TB, o options.Options) (*mesh.Node, *recorder) {
	tb.Helper()
	return startRecorded(tb, o, (*recorder).allHooks)
}

func startRecorded(tb testing.TB, o options.Options, hooks func(*recorder) options.Hooks) (*mesh.Node, *recorder) {
	tb.Helper()
	n, rec, err := tryStartNode(tb, o, hooks)
	if err != nil {
		tb.Fatalf("start %s: %v", o.Name, err)
	}
	return n, rec
}

// tryStartNode is startRecorded returning the error.
func tryStartNode(tb testing.TB, o options.Options, hooks func(*recorder) options.Hooks) (*mesh.Node, *recorder, error) {
	tb.Helper()
	o = ownCluster(tb, o)
	rec := &recorder{}
	o.Hooks = hooks(rec)
	n, err := mesh.Start(o)
	if err != nil {
		return nil, nil, err
	}
	rec.node.Store(n)
	tb.Cleanup(n.Shutdown)
	return n, rec, nil
}

// startTrio starts a, then b and c seeded from a, and waits for the mesh;
// adjust changes each node's options first.
func startTrio(t *testing.T, adjust ...func(*options.Options)) ([]*mesh.Node, []*recorder) {
	t.Helper()
	opts := func(name, seed string) options.Options {
		o := options.Options{Name: name, Seed: seed}
		for _, f := range adjust {
			f(&o)
		}
		return o
	}
	a, ra := startNode(t, opts("a", ""))
	b, rb := startNode(t, opts("b", a.ClusterURL()))
	c, rc := startNode(t, opts("c", a.ClusterURL()))
	nodes := []*mesh.Node{a, b, c}
	for _, n := range nodes {
		require.NoError(t, n.WaitForPeers(ctxFor(t), 2))
	}
	return nodes, []*recorder{ra, rb, rc}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// portFree reports whether host:port can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// noGoroutineLeak fails the test if, within waitTimeout, the goroutine
// count does not come back to what it was when noGoroutineLeak was called.
func noGoroutineLeak(t *testing.T) func() {
	t.Helper()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// binaries builds programs once per test run, into a temporary folder.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain removes the built binaries.
func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// binary returns the path of a program built from pkg: "node" for
// ./examples/node, "nats-server" for the stock nats-server of go.mod's
// version (from the module cache or the module proxy).
func binary(t *testing.T, name string) string {
	t.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "natsmesh-bin-")
		if binaries.err != nil {
			return
		}
		for out, pkg := range map[string]string{
			"node":        "./examples/node",
			"nats-server": "github.com/nats-io/nats-server/v2",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binaries.dir, out), pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				binaries.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	require.NoError(t, binaries.err)
	return filepath.Join(binaries.dir, name)
}

// process is a child program whose output is shown if the test fails.
type process struct {
	cmd *exec.Cmd
	out *syncbuf.Buffer
}

// startProcess starts path with args; the process is killed by t.Cleanup
// if still running, and its output logged if t failed.
func startProcess(t *testing.T, path string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(path, args...), out: &syncbuf.Buffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(path), strings.Join(args, " "), p.out)
		}
	})
	return p
}

// wait waits for the process to exit, bounded, and returns its error.
func (p *process) wait(t *testing.T) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		_ = p.cmd.Process.Kill()
		t.Fatalf("%s did not exit within %s", p.cmd.Path, waitTimeout)
		return nil
	}
}

// startBehindProxy starts a node that advertises a fault-injecting proxy
// as its route address: every peer that dials this node's routes (every
// peer that learns it by gossip, or seeds from ClusterURL) goes through
// the proxy. The proxy is closed by tb.Cleanup, after the node.
func startBehindProxy(tb testing.TB, o options.Options) (*mesh.Node, *recorder, *meshtest.Proxy) {
	tb.Helper()
	p := meshtest.NewProxy(tb, "") // refuses connections until the node is up
	o.ClusterAdvertise = p.Addr()
	n, h := startNode(tb, o)
	p.SetTarget(n.Server().ClusterAddr().String())
	return n, h, p
}

// routesTo returns the route connections node has to peer id, as
// "ip:port" of the remote end.
func routesTo(tb testing.TB, node *mesh.Node, id string) []string {
	tb.Helper()
	rz, err := node.Server().Routez(nil)
	if err != nil {
		tb.Fatalf("routez: %v", err)
	}
	var out []string
	for _, r := range rz.Routes {
		if r.RemoteID == id {
			out = append(out, net.JoinHostPort(r.IP, strconv.Itoa(r.Port)))
		}
	}
	return out
}

// nodePorts returns n's client and route ports.
func nodePorts(n *mesh.Node) (client, cluster int) {
	return n.Server().Addr().(*net.TCPAddr).Port, n.Server().ClusterAddr().Port
}

// iterTB lets a benchmark iteration end what it started: it passes
// everything to the benchmark's TB and also keeps the cleanups, which end
// runs (the benchmark's own Cleanup runs them again later; every cleanup
// used here is idempotent).
type iterTB struct {
	testing.TB
	fns []func()
}

// Cleanup registers f with the benchmark and for end.
func (i *iterTB) Cleanup(f func()) {
	i.fns = append(i.fns, f)
	i.TB.Cleanup(f)
}

// end runs the cleanups registered since the last end, newest first.
func (i *iterTB) end() {
	for j := len(i.fns) - 1; j >= 0; j-- {
		i.fns[j]()
	}
	i.fns = nil
}

// holdFor lets an injected fault last d. It is the fault's duration, not
// a wait for a condition.
func holdFor(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	<-tm.C
}

// byID returns the node whose ID is id, or nil.
func byID(nodes []*mesh.Node, id string) *mesh.Node {
	for _, n := range nodes {
		if n.ID() == id {
			return n
		}
	}
	return nil
}

// mustPort returns the port of a nats:// URL.
func mustPort(t *testing.T, u string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(u, "nats://"))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return port
}

// peerNamed returns n's peer called name, if n lists one.
func peerNamed(n *mesh.Node, name string) (mesh.Peer, bool) {
	for _, p := range n.Peers() {
		if p.Name == name {
			return p, true
		}
	}
	return mesh.Peer{}, false
}

// mustHost returns the host:port of a URL.
func mustHost(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.Host
}

// levelTrace is the lowest level a node logs at (nats-server's protocol
// trace, mesh's levelTrace): a logger at this level captures every line.
const levelTrace = slog.LevelDebug - 4

// quietLogger drops the errors a test provokes on purpose.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

// errorLines returns the ERROR lines of a text log.
func errorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// jsTimeout bounds JetStream waits: a meta or stream leader that crashed
// is replaced after nats-server's election timeout (4 to 9 s).
const jsTimeout = 30 * time.Second

// jsCtx returns a context that ends after jsTimeout, or with t.
func jsCtx(t *testing.T) context.Context {
	t.Helper()
	return boundCtx(t, jsTimeout)
}

// retryJS calls f until it succeeds, giving each attempt a second: a
// JetStream request that reaches the mesh while a leader is being elected
// gets no reply, and clients retry. It fails the test after jsTimeout.
func retryJS(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(jsTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, jsTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startJS starts a JetStream node named name with its store in dir,
// seeded by seed, and registers its shutdown.
func startJS(t *testing.T, name, seed, dir string) *mesh.Node {
	t.Helper()
	n, err := mesh.Start(options.Options{Name: name, Cluster: clusterName(t), Seed: seed, JetStream: true, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(n.Shutdown)
	return n
}

// startJSProcess runs examples/node with JetStream as a separate process
// named name, seeded by seed, its store in dir.
func startJSProcess(t *testing.T, name, seed, dir string) *process {
	t.Helper()
	return startProcess(t, binary(t, "node"), "-n", name, "-p", "-1", "--cluster_name", clusterName(t), "--cluster", "nats://127.0.0.1:-1",
		"--routes", seed, "-js", "-sd", dir)
}

// jsWriter publishes to a stream one message at a time, each with a
// message ID, retrying an unacknowledged message (same ID) until the
// stream acknowledges it, as a careful producer does. It records the IDs
// acknowledged and the longest time without an acknowledgement (to within
// an attempt's timeout, 100 ms).
type jsWriter struct {
	js      jetstream.JetStream
	subject string
	pace    time.Duration // pause after each acknowledgement
	stopCh  chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	acked   []string
	lastAck time.Time
	maxGap  time.Duration
}

// startWriter starts a jsWriter on subject, pausing 1 ms after each
// acknowledgement; t's cleanup stops it.
func startWriter(t *testing.T, js jetstream.JetStream, subject string) *jsWriter {
	t.Helper()
	return startPacedWriter(t, js, subject, time.Millisecond)
}

// startPacedWriter is startWriter pausing pace after each acknowledgement.
func startPacedWriter(t *testing.T, js jetstream.JetStream, subject string, pace time.Duration) *jsWriter {
	t.Helper()
	w := &jsWriter{js: js, subject: subject, pace: pace, stopCh: make(chan struct{}), done: make(chan struct{}), lastAck: time.Now()}
	go w.run()
	t.Cleanup(w.stop)
	return w
}

// run publishes until stop; it is the writer's goroutine.
func (w *jsWriter) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		id := fmt.Sprintf("m%06d", i)
		for {
			select {
			case <-w.stopCh:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			_, err := w.js.Publish(ctx, w.subject, []byte(id), jetstream.WithMsgID(id))
			cancel()
			if err == nil {
				now := time.Now()
				w.mu.Lock()
				w.acked = append(w.acked, id)
				w.maxGap = max(w.maxGap, now.Sub(w.lastAck))
				w.lastAck = now
				w.mu.Unlock()
				time.Sleep(w.pace) // a steady writer, not a flood to read back
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// stop ends the writer and waits for run to return; calling it again is
// harmless.
func (w *jsWriter) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
	<-w.done
}

// ackedSoFar returns a copy of the IDs acknowledged so far.
func (w *jsWriter) ackedSoFar() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// count is how many messages were acknowledged so far.
func (w *jsWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// resetGap starts measuring the longest gap afresh and returns the
// longest one so far.
func (w *jsWriter) resetGap() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := max(w.maxGap, time.Since(w.lastAck))
	w.maxGap = 0
	return g
}

// waitMore waits until n more messages are acknowledged than now.
func (w *jsWriter) waitMore(t *testing.T, n int, what string) {
	t.Helper()
	target := w.count() + n
	pollUntil(t, jsTimeout, fmt.Sprintf("%d acknowledged writes %s", n, what), func() bool { return w.count() >= target })
}
