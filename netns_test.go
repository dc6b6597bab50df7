//go:build linux

package natsmesh_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/netns"
	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/options"
)

// The multi-host test: three examples/node processes, each in its own
// network namespace ("host") with its own address, plugged into a bridge in
// a fourth namespace ("switch"). Nothing is added to the test's own
// network namespace, and no traffic leaves the namespaces the test makes.
//
// It needs root and iproute2's ip, and skips otherwise; with
// NATSMESH_NETNS=require it fails instead of skipping (for CI, so that a
// runner that lost root does not pass silently).

const (
	// netnsPrefix starts the name of every namespace the test makes:
	// nm-<pid>-<random>-sw, -h1, -h2, -h3.
	netnsPrefix = "nm-"
	// netnsWait bounds each wait of this test: the mesh forming, a cut
	// link being noticed (about 3 s with the default ping settings), a
	// healed one being rejoined (about 1 s: nats-server retries an
	// explicit route every second).
	netnsWait = 20 * time.Second
	// netnsSeed is h1's route URL, the one seed nodes h2 and h3 are given.
	netnsSeed = "nats://198.51.100.1:4248"
	// eth0 is the go-sockaddr template for the address of the host's
	// eth0 (IPv4): each node finds its own address with it.
	eth0 = `{{ GetAllInterfaces | include "name" "eth0" | include "type" "IPv4" | attr "address" }}`
)

// netnsNetwork makes the switch namespace of a new network, after removing
// the namespaces of earlier runs that crashed. It skips the test where
// namespaces cannot be made, and deletes everything when the test ends.
func netnsNetwork(t *testing.T) *netns.Network {
	t.Helper()
	if err := netns.Check(netnsPrefix); err != nil {
		if os.Getenv("NATSMESH_NETNS") == "require" {
			t.Fatalf("NATSMESH_NETNS=require, but: %v", err)
		}
		t.Skipf("skipping the multi-host test: it needs root, iproute2's ip and a working `ip netns add`: %v", err)
	}
	removed, err := netns.RemoveStale(netnsPrefix)
	require.NoError(t, err, "removing namespaces left by earlier runs")
	if len(removed) > 0 {
		t.Logf("removed namespaces left by earlier runs: %v", removed)
	}
	n, err := netns.New(netnsPrefix)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("deleting the test's namespaces: %v", err)
		}
	})
	return n
}

// nsProcess is a program running in a host namespace. It is killed when
// the test ends (and when the test binary dies: Pdeathsig), and its output
// is logged if the test failed.
type nsProcess struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{} // closed when the process has exited; err is set
	err  error
}

func startIn(t *testing.T, h *netns.Host, name string, env []string, path string, args ...string) *nsProcess {
	t.Helper()
	p := &nsProcess{name: name, cmd: h.Command(path, args...), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s (%s in %s, %v):\n%s", name, filepath.Base(path), h, p.err, p.out)
		}
	})
	return p
}

// exit waits, bounded, for the process to exit and returns its error.
func (p *nsProcess) exit(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(netnsWait):
		t.Fatalf("%s did not exit within %s", p.name, netnsWait)
		return nil
	}
}

// waitFor waits, at most netnsWait, until the process's output satisfies
// cond, and returns how long that took. It fails at once if the process
// exits first.
func (p *nsProcess) waitFor(t *testing.T, what string, cond func(out string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(netnsWait)
	for !cond(p.out.String()) {
		select {
		case <-p.done:
			if cond(p.out.String()) {
				return time.Since(start)
			}
			t.Fatalf("%s exited (%v) before printing %s", p.name, p.err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %s within %s", p.name, what, netnsWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// A node's output lines (see examples/node):
//
//	15:04:05.000  node h1 ready: clients nats://198.51.100.1:4222  routes nats://198.51.100.1:4248
//	15:04:05.000  + h2         joined   routes nats://198.51.100.2:4248  clients [nats://198.51.100.2:4222]
//	15:04:05.000  - h3         lost
var (
	readyLine  = regexp.MustCompile(`(?m)node (\S+) ready: clients (\S+)\s+routes (\S+)$`)
	joinedLine = regexp.MustCompile(`(?m)\+ (\S+)\s+joined\s+routes (\S*)\s+clients \[([^\]]*)\]$`)
	leftLine   = regexp.MustCompile(`(?m)- (\S+)\s+(lost|left)$`)
)

// addressLines returns the ready and joined lines of a node's output: the
// addresses it reports for itself and its peers.
func addressLines(out string) string {
	return strings.Join(append(readyLine.FindAllString(out, -1), joinedLine.FindAllString(out, -1)...), "\n")
}

// joined is one "+ name joined" line.
type joined struct{ name, routes, clients string }

func joins(out string) []joined {
	var js []joined
	for _, m := range joinedLine.FindAllStringSubmatch(out, -1) {
		js = append(js, joined{m[1], m[2], m[3]})
	}
	return js
}

// count returns how many times peer is reported joining, and leaving with
// why ("lost" or "left").
func countJoins(out, peer string) int {
	n := 0
	for _, j := range joins(out) {
		if j.name == peer {
			n++
		}
	}
	return n
}

func countLeaves(out, peer, why string) int {
	n := 0
	for _, m := range leftLine.FindAllStringSubmatch(out, -1) {
		if m[1] == peer && (why == "" || m[2] == why) {
			n++
		}
	}
	return n
}

// TestNetnsMesh: three node processes on three "hosts" with their own
// addresses, bound through a go-sockaddr template (h1, h2) or to 0.0.0.0
// with advertised addresses (h3), seeded from h1's route URL, form a full
// mesh and carry messages; when h3's link is cut the other two report it
// lost and carry on; when it is back h3 rejoins; a node stopped with
// SIGTERM is reported as left. It runs twice: with plain routes, and with
// routes sealed by a secret (given through NATSMESH_SECRET), whose
// certificates must verify on routes dialled by gossiped IPs and
// advertised addresses.
func TestNetnsMesh(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  []string
	}{{"plain", nil}, {"sealed", []string{"NATSMESH_SECRET=" + options.NewSecret()}}} {
		t.Run(tt.name, func(t *testing.T) { testNetnsMesh(t, tt.env) })
	}
}

func testNetnsMesh(t *testing.T, env []string) {
	network := netnsNetwork(t)
	node := binary(t, "node") // before any clock starts: the first build takes a while
	begin := time.Now()

	hosts := map[string]*netns.Host{}
	for i, name := range []string{"h1", "h2", "h3"} {
		h, err := network.AddHost(name, netip.MustParsePrefix(fmt.Sprintf("198.51.100.%d/24", i+1)))
		require.NoError(t, err)
		hosts[name] = h
	}
	t.Logf("network %s: switch %s, hosts h1-h3 at 198.51.100.1-3 (%v)", network.Tag, network.Switch, time.Since(begin).Round(time.Millisecond))

	addr := func(name string) string { return hosts[name].IP().String() }
	clientURL := func(name string) string { return "nats://" + addr(name) + ":4222" }
	routeURL := func(name string) string { return "nats://" + addr(name) + ":4248" }

	// h1 is the seed; h2 binds the same way and is told only h1's route
	// URL; h3 binds every interface and advertises its address.
	nodes := map[string]*nsProcess{}
	nodes["h1"] = startIn(t, hosts["h1"], "node h1", env, node,
		"-n", "h1", "-a", eth0, "-p", "4222", "--cluster", "nats://"+eth0+":4248")
	nodes["h1"].waitFor(t, "its ready line", readyLine.MatchString)
	nodes["h2"] = startIn(t, hosts["h2"], "node h2", env, node,
		"-n", "h2", "-a", eth0, "-p", "4222", "--cluster", "nats://"+eth0+":4248", "--routes", netnsSeed)
	nodes["h3"] = startIn(t, hosts["h3"], "node h3", env, node,
		"-n", "h3", "-a", "0.0.0.0", "-p", "4222", "--cluster", "nats://0.0.0.0:4248",
		"--cluster_advertise", addr("h3")+":4248", "--client_advertise", addr("h3"), "--routes", netnsSeed)

	// Each node reports its own addresses: the template's result, or the
	// advertised address, never 0.0.0.0.
	for name, p := range nodes {
		p.waitFor(t, "its ready line", readyLine.MatchString)
		if len(env) > 0 {
			p.waitFor(t, "its security line", func(out string) bool { return strings.Contains(out, "routes sealed by a secret") })
		}
		m := readyLine.FindStringSubmatch(p.out.String())
		assert.Equal(t, []string{name, clientURL(name), routeURL(name)}, m[1:], "ready line of %s", name)
	}

	// The full mesh: each node reports both others joining, with their
	// addresses on their own hosts.
	for name, p := range nodes {
		for other := range nodes {
			if other == name {
				continue
			}
			p.waitFor(t, "+ "+other+" joined", func(out string) bool { return countJoins(out, other) > 0 })
		}
		for _, j := range joins(p.out.String()) {
			assert.Equal(t, routeURL(j.name), j.routes, "%s's view of %s's route URL", name, j.name)
			assert.Equal(t, clientURL(j.name), j.clients, "%s's view of %s's client URLs", name, j.name)
		}
		assert.NotContains(t, addressLines(p.out.String()), "0.0.0.0", "addresses in %s's output", name)
	}
	t.Logf("full mesh after %v", time.Since(begin).Round(time.Millisecond))

	// A message crosses the mesh: a requester on h1's client port, a
	// responder on h3 (bound to 0.0.0.0, reached at its advertised
	// address). The responder was told every node's client URL by h3, all
	// of them dialable addresses.
	resp := exchange(t, hosts, "h1", "h3", "before")
	servers := regexp.MustCompile(`(?m)^servers (.*)$`).FindStringSubmatch(resp.out.String())
	require.NotNil(t, servers, "responder printed no servers line")
	for name := range nodes {
		assert.Contains(t, strings.Fields(servers[1]), clientURL(name), "client URLs learned from h3")
	}
	assert.NotContains(t, servers[1], "0.0.0.0", "client URLs learned from h3")

	// Cut h3's cable: h1 and h2 notice through unanswered route pings.
	require.NoError(t, hosts["h3"].Cut())
	cut := time.Now()
	for _, name := range []string{"h1", "h2"} {
		nodes[name].waitFor(t, "- h3 lost", func(out string) bool { return countLeaves(out, "h3", "lost") == 1 })
		t.Logf("%s reported h3 lost %v after the cut", name, time.Since(cut).Round(time.Millisecond))
	}
	// h3, on its side of the cut, loses both.
	for _, other := range []string{"h1", "h2"} {
		nodes["h3"].waitFor(t, "- "+other+" lost", func(out string) bool { return countLeaves(out, other, "lost") == 1 })
	}

	// h1 and h2 carry on: a message from h1 reaches h2, and neither lost
	// the other.
	exchange(t, hosts, "h1", "h2", "during the cut")
	assert.Zero(t, countLeaves(nodes["h1"].out.String(), "h2", ""), "h1 reported h2 leaving")
	assert.Zero(t, countLeaves(nodes["h2"].out.String(), "h1", ""), "h2 reported h1 leaving")

	// The cable back: h3 redials its seed (an explicit route is retried
	// for ever) and learns h2 again from it.
	require.NoError(t, hosts["h3"].Heal())
	healed := time.Now()
	for _, name := range []string{"h1", "h2"} {
		nodes[name].waitFor(t, "+ h3 joined, again", func(out string) bool { return countJoins(out, "h3") >= 2 })
		t.Logf("%s reported h3 joined %v after the heal", name, time.Since(healed).Round(time.Millisecond))
	}
	for _, other := range []string{"h1", "h2"} {
		nodes["h3"].waitFor(t, "+ "+other+" joined, again", func(out string) bool { return countJoins(out, other) >= 2 })
	}
	// With their addresses, as the first time. (After a cut, a peer's
	// pooled route and its system-account route reconnect independently,
	// up to nats-server's route retry interval, 1 s, apart. A join seen
	// on the first while the addresses are asked for on the second must
	// wait for the second, not report empty addresses.)
	for name, p := range nodes {
		for _, j := range joins(p.out.String()) {
			const why = "(empty: the join was reported before the peer's system-account route was back?)"
			assert.Equal(t, routeURL(j.name), j.routes, "%s's view of %s's route URL, after the heal %s", name, j.name, why)
			assert.Equal(t, clientURL(j.name), j.clients, "%s's view of %s's client URLs, after the heal %s", name, j.name, why)
		}
	}

	// A graceful leave across hosts: SIGTERM h2; it exits 0 and the
	// others report it left, not lost.
	require.NoError(t, nodes["h2"].cmd.Process.Signal(syscall.SIGTERM))
	for _, name := range []string{"h1", "h3"} {
		nodes[name].waitFor(t, "- h2 left", func(out string) bool { return countLeaves(out, "h2", "left") == 1 })
	}
	require.NoError(t, nodes["h2"].exit(t), "h2's exit after SIGTERM")

	for name, p := range nodes {
		assert.NotContains(t, addressLines(p.out.String()), "0.0.0.0", "addresses in %s's output", name)
	}
	t.Logf("done after %v", time.Since(begin).Round(time.Millisecond))
}

// exchange runs a responder (TestNetnsClientHelper) on host to, connected
// to its node's client URL, and a requester on host from, connected to its
// own node's, and checks that a request and its reply cross between them.
// It returns the responder.
func exchange(t *testing.T, hosts map[string]*netns.Host, from, to, when string) *nsProcess {
	t.Helper()
	subject := "netns." + from + "." + to
	client := func(host, mode string) *nsProcess {
		env := []string{
			"NATSMESH_NETNS_CLIENT=" + mode,
			"NATSMESH_NETNS_URL=nats://" + hosts[host].IP().String() + ":4222",
			"NATSMESH_NETNS_SUBJECT=" + subject,
			"NATSMESH_NETNS_NAME=" + host,
		}
		return startIn(t, hosts[host], mode+" client on "+host+" "+when, env,
			os.Args[0], "-test.run", "^TestNetnsClientHelper$", "-test.timeout", "60s")
	}
	start := time.Now()
	resp := client(to, "respond")
	resp.waitFor(t, "ready", func(out string) bool { return strings.Contains(out, "\nready\n") })
	req := client(from, "request")
	require.NoError(t, req.exit(t), "requester on %s %s", from, when)
	require.NoError(t, resp.exit(t), "responder on %s %s", to, when)
	assert.Contains(t, resp.out.String(), fmt.Sprintf("got %s %q", subject, "ping from "+from))
	assert.Contains(t, req.out.String(), fmt.Sprintf("reply %q", "pong from "+to))
	assert.Contains(t, req.out.String(), "connected nats://"+hosts[from].IP().String()+":4222")
	t.Logf("request %s → %s %s: answered in %v", from, to, when, time.Since(start).Round(time.Millisecond))
	return resp
}

// TestNetnsClientHelper is not a test: TestNetnsMesh runs this test binary
// inside a host namespace with NATSMESH_NETNS_CLIENT set, to act as a NATS
// client there.
//
//	respond: subscribe to the subject, print "ready", answer one request
//	         ("pong from NAME"), print it as "got SUBJECT DATA", and exit.
//	request: request on the subject ("ping from NAME") until answered,
//	         print the answer as "reply DATA", and exit.
func TestNetnsClientHelper(t *testing.T) {
	mode := os.Getenv("NATSMESH_NETNS_CLIENT")
	if mode == "" {
		t.Skip("helper process for TestNetnsMesh; runs only with NATSMESH_NETNS_CLIENT set")
	}
	url, subject, name := os.Getenv("NATSMESH_NETNS_URL"), os.Getenv("NATSMESH_NETNS_SUBJECT"), os.Getenv("NATSMESH_NETNS_NAME")
	nc, err := nats.Connect(url, nats.Name("netns-"+mode+"-"+name), nats.Timeout(2*time.Second))
	require.NoError(t, err)
	defer nc.Close()
	fmt.Printf("connected %s\n", nc.ConnectedUrl())
	deadline := time.Now().Add(netnsWait)

	switch mode {
	case "respond":
		got := make(chan *nats.Msg, 1)
		sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
			select {
			case got <- m:
			default:
			}
		})
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		fmt.Printf("servers %s\n", strings.Join(nc.Servers(), " "))
		fmt.Printf("ready\n")
		select {
		case m := <-got:
			fmt.Printf("got %s %q\n", m.Subject, m.Data)
			require.NoError(t, m.Respond([]byte("pong from "+name)))
			require.NoError(t, nc.Flush())
		case <-time.After(time.Until(deadline)):
			t.Fatalf("no request on %s within %s", subject, netnsWait)
		}
		require.NoError(t, sub.Unsubscribe())
	case "request":
		// Interest crosses routes asynchronously: until h1 knows of the
		// responder, a request finds no responders; ask again.
		for {
			m, err := nc.Request(subject, []byte("ping from "+name), time.Second)
			if err == nil {
				fmt.Printf("reply %q\n", m.Data)
				return
			}
			fmt.Printf("no reply yet: %v\n", err)
			if time.Now().After(deadline) {
				t.Fatalf("no reply on %s within %s", subject, netnsWait)
			}
			time.Sleep(20 * time.Millisecond)
		}
	default:
		t.Fatalf("NATSMESH_NETNS_CLIENT=%q: want respond or request", mode)
	}
}
