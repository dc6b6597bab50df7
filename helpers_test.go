package natsmesh_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

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

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recorder collects one node's membership events as "+name" and
// "-name:left" / "-name:lost", and checks that Peers agrees with each hook
// while it runs.
type recorder struct {
	node atomic.Pointer[mesh.Node]

	mu         sync.Mutex
	events     []string
	ids        []string
	violations []string
}

func (r *recorder) hooks() options.Hooks {
	return options.Hooks{
		PeerJoined: func(p mesh.Peer) {
			r.check(p, true)
			r.add("+"+p.Name, p.ID)
		},
		PeerLeft: func(p mesh.Peer, why mesh.LeaveReason) {
			r.check(p, false)
			r.add("-"+p.Name+":"+why.String(), p.ID)
		},
	}
}

func (r *recorder) check(p mesh.Peer, wantIn bool) {
	n := r.node.Load()
	if n == nil {
		return
	}
	in := false
	for _, q := range n.Peers() {
		if q.ID == p.ID {
			in = true
		}
	}
	if in != wantIn {
		r.mu.Lock()
		r.violations = append(r.violations, fmt.Sprintf("hook for %s: in Peers()=%v", p.Name, in))
		r.mu.Unlock()
	}
}

func (r *recorder) add(e, id string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.ids = append(r.ids, id)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// waitEvent waits until the recorder has seen event e, and returns the
// ID of the peer it was about.
func (r *recorder) waitEvent(t *testing.T, e string) string {
	t.Helper()
	var id string
	eventually(t, fmt.Sprintf("event %q (have %v)", e, r.snapshot()), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, got := range r.events {
			if got == e {
				id = r.ids[i]
				return true
			}
		}
		return false
	})
	return id
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

// startNode starts a node with a recorder and registers its shutdown. The
// node gets the test's cluster name unless o has one.
func startNode(t *testing.T, o options.Options) (*mesh.Node, *recorder) {
	t.Helper()
	o = ownCluster(t, o)
	rec := &recorder{}
	o.Hooks = rec.hooks()
	n, err := mesh.Start(o)
	require.NoError(t, err)
	rec.node.Store(n)
	t.Cleanup(n.Shutdown)
	return n, rec
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
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProcess(t *testing.T, path string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(path, args...), out: &syncBuffer{}}
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
