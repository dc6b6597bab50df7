//go:build linux

package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPrefix starts the name of every namespace this package makes
// unless the caller picks another prefix.
const DefaultPrefix = "nm-"

// Bridge is the name of the bridge in the switch namespace.
const Bridge = "br0"

// cmdTimeout bounds each ip command.
const cmdTimeout = 10 * time.Second

// ErrUnavailable is matched by Check's error when network namespaces
// cannot be made here (not root, no ip, no permission to mount).
var ErrUnavailable = errors.New("network namespaces unavailable")

// ip runs the ip command and returns its error with its output.
func ip(args ...string) error {
	_, err := ipOutput(args...)
	return err
}

func ipOutput(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// tag returns a name unique to this process and call: prefix, PID, and six
// random hex digits.
func tag(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(b))
}

// Check reports, with an error matching ErrUnavailable, why network
// namespaces cannot be made here: not running as root, no ip command, or
// "ip netns add" failing (e.g. in a container without CAP_SYS_ADMIN). It
// tries by making and deleting a namespace named with prefix.
func Check(prefix string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not running as root (euid %d)", ErrUnavailable, os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: no ip command (iproute2): %w", ErrUnavailable, err)
	}
	name := tag(prefix) + "-probe"
	if err := ip("netns", "add", name); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := ip("netns", "del", name); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// List returns the names of all named network namespaces.
func List() ([]string, error) {
	out, err := ipOutput("netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// "name" or "name (id: 3)"
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// RemoveStale deletes the namespaces named by this package with prefix
// whose creating process no longer runs, after killing any process still
// inside them, and returns their names. Namespaces of live processes
// (including this one) are left alone, so concurrent runs do not disturb
// each other.
func RemoveStale(prefix string) ([]string, error) {
	names, err := List()
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `(\d+)-[0-9a-f]{6}-[a-z0-9]+$`)
	var removed []string
	var errs []error
	for _, name := range names {
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || alive(pid) {
			continue
		}
		if err := remove(name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

// alive reports whether a process with this PID exists.
func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// remove kills the processes inside namespace name and deletes it. (A
// namespace with processes left in it would outlive its name.)
func remove(name string) error {
	if out, err := ipOutput("netns", "pids", name); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return ip("netns", "del", name)
}

// Network is a switch namespace with a bridge, and the hosts plugged into
// it. Close deletes all of it.
type Network struct {
	// Tag is the unique part of every namespace name: "nm-4242-1a2b3c".
	Tag string
	// Switch is the namespace holding the bridge (named Bridge) and the
	// switch ends of the hosts' veth pairs.
	Switch string

	mu    sync.Mutex
	hosts []*Host
	made  []string // namespaces to delete, in creation order
}

// New makes the switch namespace of a new network, with a bridge that is
// up. Its namespaces are named prefix, this process's PID, a random tag and
// a role. On error nothing is left behind.
func New(prefix string) (*Network, error) {
	n := &Network{Tag: tag(prefix)}
	n.Switch = n.Tag + "-sw"
	if err := n.addNS(n.Switch); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", n.Switch, "link", "set", "lo", "up"},
		{"-n", n.Switch, "link", "add", Bridge, "type", "bridge"},
		{"-n", n.Switch, "link", "set", Bridge, "up"},
	} {
		if err := ip(args...); err != nil {
			_ = n.Close()
			return nil, err
		}
	}
	return n, nil
}

func (n *Network) addNS(name string) error {
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	n.mu.Lock()
	n.made = append(n.made, name)
	n.mu.Unlock()
	return nil
}

// Host is a namespace with lo and eth0 up, eth0 holding Addr and plugged
// into the network's bridge.
type Host struct {
	// Name is the host's short name ("h1"), also the name of its port (the
	// switch end of its veth pair) in the switch namespace.
	Name string
	// NS is the host's namespace: Tag-Name.
	NS string
	// Addr is eth0's address and prefix length.
	Addr netip.Prefix

	net *Network
}

var hostName = regexp.MustCompile(`^[a-z][a-z0-9]{0,14}$`)

// AddHost makes a host namespace named Tag-name, with lo up and an eth0
// holding addr (e.g. 198.51.100.1/24), plugged into the bridge. name must
// be a short lowercase word (at most 15 characters: it names an interface
// in the switch namespace).
func (n *Network) AddHost(name string, addr netip.Prefix) (*Host, error) {
	if !hostName.MatchString(name) || name == Bridge {
		return nil, fmt.Errorf("netns: host name %q: want 1-15 lowercase letters and digits, not %q", name, Bridge)
	}
	if !addr.IsValid() {
		return nil, fmt.Errorf("netns: host %s: invalid address %v", name, addr)
	}
	h := &Host{Name: name, NS: n.Tag + "-" + name, Addr: addr, net: n}
	if err := n.addNS(h.NS); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", h.NS, "link", "set", "lo", "up"},
		// Made inside the host with its peer end placed straight into the
		// switch: no interface ever appears in the caller's namespace.
		{"-n", h.NS, "link", "add", "eth0", "type", "veth", "peer", "name", name, "netns", n.Switch},
		{"-n", h.NS, "addr", "add", addr.String(), "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
		{"-n", n.Switch, "link", "set", name, "master", Bridge, "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	return h, nil
}

// Hosts returns the hosts added so far.
func (n *Network) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Host(nil), n.hosts...)
}

// Close kills every process left in the network's namespaces and deletes
// them (which deletes the veth pairs and the bridge). It is safe to call
// more than once; it reports every namespace it could not delete.
func (n *Network) Close() error {
	n.mu.Lock()
	made := n.made
	n.made = nil
	n.mu.Unlock()
	var errs []error
	for i := len(made) - 1; i >= 0; i-- {
		if err := remove(made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IP returns the host's address without its prefix length.
func (h *Host) IP() netip.Addr { return h.Addr.Addr() }

// Command returns a command that runs name with args inside the host's
// namespace (ip netns exec, which execs name: the command's process is the
// program itself).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Cut takes the host's port on the switch down, as if its cable were
// pulled: its eth0 loses carrier and nothing it sends or is sent arrives.
// Nothing inside the host namespace is changed.
func (h *Host) Cut() error {
	return ip("-n", h.net.Switch, "link", "set", h.Name, "down")
}

// Heal brings the host's port on the switch back up.
func (h *Host) Heal() error {
	return ip("-n", h.net.Switch, "link", "set", h.Name, "up")
}

// String returns the host's name and namespace.
func (h *Host) String() string { return h.Name + " (" + h.NS + ")" }
