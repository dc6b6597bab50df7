package meshbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
)

// Binaries builds, into dir, the two programs a crash needs: "node"
// (examples/node, a natsmesh node) and "nats-server" (the stock server of
// go.mod's version). It returns their paths by those names.
func Binaries(dir string) (map[string]string, error) {
	out := map[string]string{}
	for name, pkg := range map[string]string{
		"node":        "github.com/natsmesh/natsmesh/examples/node",
		"nats-server": "github.com/nats-io/nats-server/v2",
	} {
		path := filepath.Join(dir, name)
		if b, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("meshbench: go build %s: %v\n%s", pkg, err, b)
		}
		out[name] = path
	}
	return out, nil
}

// ProcCluster is a JetStream cluster of three node processes, so that one
// can be killed for real (SIGKILL: no goodbye, no leadership handed over,
// its sockets closed by the kernel): examples/node processes (Mesh, each
// seeded by the first, with -js), or stock nats-server processes clustered
// by hand (Raw: -js, explicit routes to every node, as nats-server's
// documentation does).
type ProcCluster struct {
	Kind    Kind
	names   []string
	clients []string // client URLs
	monitor []string // HTTP monitoring URLs
	procs   []*exec.Cmd
	exited  []chan struct{}
	out     []*syncbuf.Buffer
	dir     string
}

// FormJSProcs starts a three-node ProcCluster of kind (Mesh or Raw) with
// the programs from Binaries, and returns it once an R3 stream "BENCH"
// (file storage, subject "bench") has a leader.
func FormJSProcs(kind Kind, bins map[string]string) (*ProcCluster, error) {
	const n = 3
	dir, err := os.MkdirTemp("", "meshbench-crash-")
	if err != nil {
		return nil, err
	}
	c := &ProcCluster{Kind: kind, dir: dir}
	ports, err := freePorts(3 * n)
	if err != nil {
		c.Close()
		return nil, err
	}
	routeURL := func(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]) }
	var routes []string
	for i := range n {
		routes = append(routes, routeURL(i))
	}
	for i := range n {
		store := filepath.Join(dir, strconv.Itoa(i))
		var cmd *exec.Cmd
		if kind == Raw {
			name := fmt.Sprintf("r%d", i)
			c.names = append(c.names, name)
			cmd = exec.Command(bins["nats-server"], "-n", name, "-a", "127.0.0.1", "-p", strconv.Itoa(ports[i]), "-m", strconv.Itoa(ports[2*n+i]),
				"-js", "-sd", store, "--cluster_name", clusterName(dir), "--cluster", routeURL(i), "--routes", strings.Join(routes, ","))
		} else {
			name := fmt.Sprintf("m%d", i)
			c.names = append(c.names, name)
			args := []string{"-n", name, "-p", strconv.Itoa(ports[i]), "-m", strconv.Itoa(ports[2*n+i]), "--cluster", routeURL(i),
				"--cluster_name", clusterName(dir), "-js", "-sd", store}
			if i > 0 {
				args = append(args, "--routes", routeURL(0))
			}
			cmd = exec.Command(bins["node"], args...)
		}
		c.clients = append(c.clients, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		c.monitor = append(c.monitor, fmt.Sprintf("http://127.0.0.1:%d", ports[2*n+i]))
		out := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			c.Close()
			return nil, err
		}
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			_ = cmd.Wait()
		}()
		c.procs, c.exited, c.out = append(c.procs, cmd), append(c.exited, exited), append(c.out, out)
	}
	if err := c.waitStream(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// freePorts returns count ports free on 127.0.0.1 at the time of the call.
func freePorts(count int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// connect dials node i's client port (no reconnection: a client of a
// node that is killed is not wanted) and returns a JetStream handle.
func (c *ProcCluster) connect(i int) (*nats.Conn, jetstream.JetStream, error) {
	deadline := time.Now().Add(Wait)
	for {
		nc, err := nats.Connect(c.clients[i], nats.NoReconnect())
		if err == nil {
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, nil, err
			}
			return nc, js, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("meshbench: node %s: %w\n%s", c.names[i], err, c.out[i])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStream creates the R3 stream "BENCH" through node 0, retrying until
// the cluster places it and it has a leader.
func (c *ProcCluster) waitStream() error {
	nc, js, err := c.connect(0)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = c.streamLeader(js)
	return err
}

// streamLeader returns the index of the leader of the stream "BENCH",
// creating the stream first if it does not exist.
func (c *ProcCluster) streamLeader(js jetstream.JetStream) (int, error) {
	leader := -1
	err := retry(func(ctx context.Context) error {
		s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench"}, Replicas: 3})
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		for i, name := range c.names {
			if info.Cluster != nil && info.Cluster.Leader == name {
				leader = i
				return nil
			}
		}
		return errors.New("no stream leader yet")
	})
	return leader, err
}

// CrashUnavailability measures how long writes to the R3 stream stop when
// the node leading both it and the meta group is killed (SIGKILL): the
// stream's leadership is moved to the meta leader first, a writer
// connected to another node publishes as Unavailability's does, the
// leader's process is killed, and the result is the longest time between
// two acknowledgements from just before the kill until 100
// acknowledgements after it. The survivors elect a new leader once
// nats-server's raft election timeout (a random 4 to 9 s) has passed
// without a heartbeat.
func (c *ProcCluster) CrashUnavailability() (time.Duration, error) {
	nc0, js0, err := c.connect(0)
	if err != nil {
		return 0, err
	}
	leader, err := c.leadBoth(nc0, js0)
	nc0.Close()
	if err != nil {
		return 0, err
	}
	nc, js, err := c.connect((leader + 1) % len(c.procs))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	return writeGap(js, func() {
		_ = c.procs[leader].Process.Signal(syscall.SIGKILL)
		<-c.exited[leader]
	})
}

// leadBoth moves the leadership of the stream "BENCH" to the meta
// leader (a stream leader step-down with the meta leader preferred) and
// returns that node's index.
func (c *ProcCluster) leadBoth(nc *nats.Conn, js jetstream.JetStream) (int, error) {
	leader := -1
	err := retry(func(ctx context.Context) error {
		meta, err := c.metaLeader(ctx)
		if err != nil {
			return err
		}
		stream, err := c.streamLeader(js)
		if err != nil {
			return err
		}
		if stream == meta {
			leader = meta
			return nil
		}
		req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, c.names[meta])
		if _, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN.BENCH", []byte(req)); err != nil {
			return err
		}
		return fmt.Errorf("meshbench: stream leader %s, meta leader %s", c.names[stream], c.names[meta])
	})
	return leader, err
}

// metaLeader returns the index of the meta leader, as node 0's
// monitoring endpoint /jsz says.
func (c *ProcCluster) metaLeader(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.monitor[0]+"/jsz", nil)
	if err != nil {
		return -1, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return -1, err
	}
	for i, name := range c.names {
		if jsz.Meta != nil && jsz.Meta.Leader == name {
			return i, nil
		}
	}
	return -1, errors.New("meshbench: no meta leader yet")
}

// Close kills every node process still running and removes the stores.
func (c *ProcCluster) Close() {
	for i, p := range c.procs {
		_ = p.Process.Kill()
		<-c.exited[i]
	}
	os.RemoveAll(c.dir)
}
