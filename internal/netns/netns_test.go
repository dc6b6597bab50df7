//go:build linux

package netns_test

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/netns"
	"github.com/natsmesh/natsmesh/internal/syncbuf"
)

// prefix keeps this package's namespaces apart from the root package's.
const prefix = "nmt-"

func network(t *testing.T) *netns.Network {
	t.Helper()
	if err := netns.Check(prefix); err != nil {
		if os.Getenv("NATSMESH_NETNS") == "require" {
			t.Fatalf("NATSMESH_NETNS=require: %v", err)
		}
		t.Skipf("skipping: needs root, iproute2's ip and a working `ip netns add`: %v", err)
	}
	removed, err := netns.RemoveStale(prefix)
	require.NoError(t, err)
	if len(removed) > 0 {
		t.Logf("removed stale namespaces %v", removed)
	}
	n, err := netns.New(prefix)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, n.Close()) })
	return n
}

// rootLinks lists the interfaces of the test's own namespace.
func rootLinks(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-br", "link").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

func TestNetwork(t *testing.T) {
	n := network(t)
	before := rootLinks(t)
	h1, err := n.AddHost("h1", netip.MustParsePrefix("198.51.100.1/24"))
	require.NoError(t, err)
	h2, err := n.AddHost("h2", netip.MustParsePrefix("198.51.100.2/24"))
	require.NoError(t, err)
	assert.Equal(t, n.Tag+"-h1", h1.NS)
	assert.Equal(t, []*netns.Host{h1, h2}, n.Hosts())

	out, err := h1.Command("ip", "-br", "addr", "show", "eth0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "198.51.100.1/24")

	names, err := netns.List()
	require.NoError(t, err)
	for _, ns := range []string{n.Switch, h1.NS, h2.NS} {
		assert.Contains(t, names, ns)
	}

	assert.Equal(t, before, rootLinks(t), "interfaces of the test's own namespace")

	// h2 reaches a listener on h1, through the bridge.
	ln := helper(t, h1, "listen", "198.51.100.1:7000")
	waitFor(t, ln, "listening")
	d := helper(t, h2, "dial", "198.51.100.1:7000")
	require.NoError(t, d.Wait(), "dial output: %s", d.out)

	// With h1's port cut, it does not.
	require.NoError(t, h1.Cut())
	d = helper(t, h2, "dial", "198.51.100.1:7000")
	require.Error(t, d.Wait(), "dial across a cut link succeeded: %s", d.out)

	healed := time.Now()
	require.NoError(t, h1.Heal())
	deadline := time.Now().Add(10 * time.Second)
	for {
		d = helper(t, h2, "dial", "198.51.100.1:7000")
		if d.Wait() == nil {
			t.Logf("reconnected %v after Heal", time.Since(healed))
			break
		}
		t.Logf("dial after heal: %s", d.out)
		require.True(t, time.Now().Before(deadline), "no connection after Heal: %s", d.out)
	}

	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "second Close")
	names, err = netns.List()
	require.NoError(t, err)
	for _, ns := range []string{n.Switch, h1.NS, h2.NS} {
		assert.NotContains(t, names, ns)
	}
	assert.Equal(t, before, rootLinks(t), "interfaces of the test's own namespace")
}

func TestAddHostRefusesBadNames(t *testing.T) {
	n := network(t)
	for _, name := range []string{"", "H1", "br0", "a-b", "sixteen-letters1", "1h"} {
		_, err := n.AddHost(name, netip.MustParsePrefix("198.51.100.1/24"))
		assert.Error(t, err, "name %q", name)
	}
	_, err := n.AddHost("h1", netip.Prefix{})
	assert.Error(t, err)
}

func TestRemoveStale(t *testing.T) {
	network(t) // skips unless available
	// A PID that ran and exited: its namespaces are stale.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid
	stale := fmt.Sprintf("%s%d-abcdef-h1", prefix, dead)
	live := fmt.Sprintf("%s%d-abcdef-h1", prefix, os.Getpid())
	other := fmt.Sprintf("%s%d-notours", prefix, dead) // not of our pattern
	for _, ns := range []string{stale, live, other} {
		out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	removed, err := netns.RemoveStale(prefix)
	require.NoError(t, err)
	assert.Contains(t, removed, stale)
	names, err := netns.List()
	require.NoError(t, err)
	assert.NotContains(t, names, stale)
	assert.Contains(t, names, live)
	assert.Contains(t, names, other)
}

// helperProc is this test binary re-run inside a namespace.
type helperProc struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

// Wait waits, at most 10 s, for the helper to exit.
func (p *helperProc) Wait() error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("helper did not exit within 10s")
	}
}

// helper runs TestHelper in host h with mode and addr; it is killed when
// the test ends.
func helper(t *testing.T, h *netns.Host, mode, addr string) *helperProc {
	t.Helper()
	cmd := h.Command(os.Args[0], "-test.run", "^TestHelper$", "-test.timeout", "20s")
	cmd.Env = append(os.Environ(), "NETNS_HELPER="+mode, "NETNS_ADDR="+addr)
	p := &helperProc{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("helper %s %s in %s:\n%s", mode, addr, h, p.out)
		}
	})
	return p
}

// waitFor waits, at most 10 s, until the helper has printed s.
func waitFor(t *testing.T, p *helperProc, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.out.String(), s) {
		require.True(t, time.Now().Before(deadline), "helper did not print %q within 10s: %s", s, p.out)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHelper(t *testing.T) {
	mode, addr := os.Getenv("NETNS_HELPER"), os.Getenv("NETNS_ADDR")
	switch mode {
	case "":
		t.Skip("helper process for TestNetwork")
	case "listen":
		l, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			require.NoError(t, err)
			_, _ = c.Write([]byte("hello\n"))
			c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, time.Second)
		require.NoError(t, err)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "hello\n", line)
	}
}
