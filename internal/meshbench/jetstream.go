package meshbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// JSCluster is a three-or-more-node cluster running clustered JetStream:
// natsmesh nodes (Mesh) or nats-server clustered by hand (Raw: every
// server given explicit routes to every server, as nats-server's
// documentation does for JetStream).
type JSCluster struct {
	Kind    Kind
	Servers []*server.Server
	Nodes   []*mesh.Node // Mesh only
	dir     string
}

// FormJS starts an n-node JetStream cluster of kind (Raw or Mesh), its
// stores in a fresh temporary directory, and returns it with how long it
// took to be ready: for Mesh, from the first Start to WaitForJetStream
// returning on every node; for Raw, from the first NewServer to the first
// successful R3 stream creation (stream "READY", deleted again), which is
// when a hand-made cluster is known to be usable. firstR3 is, for both,
// the time to that first R3 stream creation.
func FormJS(kind Kind, n int) (c *JSCluster, ready, firstR3 time.Duration, err error) {
	dir, err := os.MkdirTemp("", "meshbench-js-")
	if err != nil {
		return nil, 0, 0, err
	}
	c = &JSCluster{Kind: kind, Servers: make([]*server.Server, n), dir: dir}
	start := time.Now()
	if kind == Raw {
		err = c.formRaw(n)
	} else {
		err = c.formMesh(n)
		ready = time.Since(start)
	}
	if err == nil {
		err = c.firstR3()
		firstR3 = time.Since(start)
	}
	if err != nil {
		c.Close()
		return nil, 0, 0, err
	}
	if kind == Raw {
		ready = firstR3
	}
	return c, ready, firstR3, nil
}

func (c *JSCluster) formMesh(n int) error {
	c.Nodes = make([]*mesh.Node, n)
	opts := func(i int, seed string) options.Options {
		return options.Options{Name: fmt.Sprintf("m%d", i), Seed: seed, JetStream: true, Cluster: clusterName(c.dir),
			StoreDir: filepath.Join(c.dir, fmt.Sprint(i))}
	}
	first, err := mesh.Start(opts(0, ""))
	if err != nil {
		return err
	}
	c.Nodes[0], c.Servers[0] = first, first.Server()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node, err := mesh.Start(opts(i, first.ClusterURL()))
			if err == nil {
				c.Nodes[i], c.Servers[i] = node, node.Server()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	for _, node := range c.Nodes {
		if err := node.WaitForJetStream(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *JSCluster) formRaw(n int) error {
	ports := make([]int, n)
	routes := make([]*url.URL, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := &server.Options{
				ServerName: fmt.Sprintf("r%d", i),
				Host:       "127.0.0.1",
				Port:       server.RANDOM_PORT,
				NoLog:      true,
				NoSigs:     true,
				JetStream:  true,
				StoreDir:   filepath.Join(c.dir, fmt.Sprint(i)),
				Cluster:    server.ClusterOpts{Name: clusterName(c.dir), Host: "127.0.0.1", Port: ports[i]},
				Routes:     routes,
			}
			s, err := server.NewServer(opts)
			if err != nil {
				errs[i] = err
				return
			}
			go s.Start()
			if !s.ReadyForConnections(10 * time.Second) {
				s.Shutdown()
				errs[i] = fmt.Errorf("meshbench: raw JetStream node %d not ready", i)
				return
			}
			c.Servers[i] = s
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// clusterName is the cluster name of a JetStream cluster whose stores
// are in dir (a fresh temporary directory): one of its own, so that a
// node of another cluster on the machine (another run's, whose nodes have
// the same names) that redials a port this one now uses cannot join it.
// Two JetStream servers of one name in a cluster share a raft ID.
func clusterName(dir string) string { return filepath.Base(dir) }

// firstR3 creates and deletes an R3 stream through node 0, retrying each
// second until it works.
func (c *JSCluster) firstR3() error {
	nc, js, err := c.Connect(0)
	if err != nil {
		return err
	}
	defer nc.Close()
	return retry(func(ctx context.Context) error {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "READY", Replicas: 3, Storage: jetstream.MemoryStorage}); err != nil {
			return err
		}
		return js.DeleteStream(ctx, "READY")
	})
}

// retry calls f, a second per attempt, until it succeeds or Wait passes.
func retry(f func(ctx context.Context) error) error {
	deadline := time.Now().Add(Wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := f(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Connect dials node i's client port (TCP, as an application elsewhere
// would) and returns a JetStream handle over it.
func (c *JSCluster) Connect(i int) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.Servers[i].ClientURL())
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// ServerNamed returns the index of the node named name, or -1.
func (c *JSCluster) ServerNamed(name string) int {
	for i, s := range c.Servers {
		if s != nil && s.Name() == name {
			return i
		}
	}
	return -1
}

// Close shuts every node down and removes the stores.
func (c *JSCluster) Close() {
	var wg sync.WaitGroup
	for i, s := range c.Servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch {
			case c.Nodes != nil && c.Nodes[i] != nil:
				c.Nodes[i].Shutdown()
			case s != nil:
				s.Shutdown()
				s.WaitForShutdown()
			}
		}()
	}
	wg.Wait()
	os.RemoveAll(c.dir)
}

// Stream creates an R3 stream "BENCH" (file storage, subject "bench")
// and returns the index of its leader.
func (c *JSCluster) Stream(js jetstream.JetStream) (leader int, err error) {
	err = retry(func(ctx context.Context) error {
		s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench"}, Replicas: 3})
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return errors.New("no stream leader yet")
		}
		leader = c.ServerNamed(info.Cluster.Leader)
		return nil
	})
	return leader, err
}

// PublishAsync publishes count messages of size bytes to "bench" with
// at most window unacknowledged, and returns how long until all are
// acknowledged.
func PublishAsync(js jetstream.JetStream, count, size, window int) (time.Duration, error) {
	payload := make([]byte, size)
	start := time.Now()
	for i := 0; i < count; i++ {
		if _, err := js.PublishAsync("bench", payload); err != nil {
			return 0, err
		}
		if js.PublishAsyncPending() >= window {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(Wait):
				return 0, errors.New("meshbench: async publishes not acknowledged")
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(Wait):
		return 0, errors.New("meshbench: async publishes not acknowledged")
	}
	return time.Since(start), nil
}

// KVPuts does count sequential puts of size bytes to an R3 bucket "BENCH"
// through a client connected to the node leading the bucket's stream, and
// returns each put's latency, sorted.
func (c *JSCluster) KVPuts(count, size int) ([]time.Duration, error) {
	nc0, js0, err := c.Connect(0)
	if err != nil {
		return nil, err
	}
	leader := -1
	err = retry(func(ctx context.Context) error {
		if _, err := js0.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "BENCH", Replicas: 3}); err != nil {
			return err
		}
		s, err := js0.Stream(ctx, "KV_BENCH")
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || c.ServerNamed(info.Cluster.Leader) < 0 {
			return errors.New("no bucket leader yet")
		}
		leader = c.ServerNamed(info.Cluster.Leader)
		return nil
	})
	nc0.Close()
	if err != nil {
		return nil, err
	}
	nc, js, err := c.Connect(leader)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var kv jetstream.KeyValue
	err = retry(func(ctx context.Context) (err error) {
		kv, err = js.KeyValue(ctx, "BENCH")
		return err
	})
	if err != nil {
		return nil, err
	}
	payload := make([]byte, size)
	out := make([]time.Duration, 0, count)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	for i := 0; i < count; i++ {
		t0 := time.Now()
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i%64), payload); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// Unavailability measures how long writes to an R3 stream stop while its
// leader goes: a writer connected to another node (see writeGap) runs,
// stop(i) takes the leader i away, and the result is the longest time
// without an acknowledgement around it.
func (c *JSCluster) Unavailability(stop func(i int)) (time.Duration, error) {
	nc0, js0, err := c.Connect(0)
	if err != nil {
		return 0, err
	}
	leader, err := c.Stream(js0)
	nc0.Close()
	if err != nil {
		return 0, err
	}
	if leader < 0 {
		return 0, errors.New("meshbench: stream leader unknown")
	}
	nc, js, err := c.Connect((leader + 1) % len(c.Servers))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	return writeGap(js, func() { stop(leader) })
}

// writeGap runs a writer on js that publishes to "bench" one message at
// a time with a message ID (each attempt bounded by 50 ms, retried with
// the same ID: the figure's resolution), calls stop once 100 messages are
// acknowledged, and returns the longest time between two
// acknowledgements from just before stop until 100 acknowledgements after
// it returned.
func writeGap(js jetstream.JetStream, stop func()) (time.Duration, error) {
	var (
		mu      sync.Mutex
		acks    int
		last    = time.Now()
		worst   time.Duration
		measure bool
		quit    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			id := fmt.Sprint(i)
			for {
				select {
				case <-quit:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				_, err := js.Publish(ctx, "bench", []byte(id), jetstream.WithMsgID(id))
				cancel()
				if err == nil {
					break
				}
				// No responders comes back at once while there is no
				// leader: do not spin.
				time.Sleep(2 * time.Millisecond)
			}
			mu.Lock()
			now := time.Now()
			if measure {
				worst = max(worst, now.Sub(last))
			}
			last, acks = now, acks+1
			mu.Unlock()
		}
	}()
	defer func() { close(quit); <-done }()
	waitAcks := func(n int) error {
		mu.Lock()
		target := acks + n
		mu.Unlock()
		deadline := time.Now().Add(Wait)
		for {
			mu.Lock()
			got := acks
			mu.Unlock()
			if got >= target {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("meshbench: writes stopped (%d acknowledged)", got)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := waitAcks(100); err != nil {
		return 0, err
	}
	mu.Lock()
	measure, worst = true, 0
	mu.Unlock()
	stop()
	if err := waitAcks(100); err != nil {
		return 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	return worst, nil
}

// MetaUnavailability measures how long JetStream API requests that need
// the meta leader (stream creation) go unanswered while it goes: a client
// on another node creates streams one after the other (each attempt
// bounded by 50 ms), stop(i) takes the meta leader i away, and the result
// is the longest time between two creations from just before stop until
// 20 creations after it returned.
//
// A creation that gets no answer is retried under the same name for a
// second, then under a new one: the meta leader may have placed the
// stream (R1) on itself just before it stopped, and a stream whose only
// replica is on a node that is gone can be neither created nor updated
// until that node returns (stock nats-server too: CreateOrUpdateStream
// times out on it for as long as one waits, while other names work).
// Retrying that one name forever was why a run once never created a
// stream again after the meta leader was stopped.
func (c *JSCluster) MetaUnavailability(stop func(i int)) (time.Duration, error) {
	leader := -1
	for i, s := range c.Servers {
		if s != nil && s.JetStreamIsLeader() {
			leader = i
		}
	}
	if leader < 0 {
		return 0, errors.New("meshbench: no meta leader")
	}
	nc, js, err := c.Connect((leader + 1) % len(c.Servers))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	deadline := time.Now().Add(Wait)
	// create creates stream i, retrying until it succeeds or the deadline
	// passes (a meta group that never recovers must not hang the run).
	create := func(i int) (time.Time, error) {
		var last error
		for attempt := 0; time.Now().Before(deadline); attempt++ {
			name := fmt.Sprintf("M%d", i)
			if attempt >= 20 { // about a second on that name
				name = fmt.Sprintf("M%d-%d", i, attempt/20)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Storage: jetstream.MemoryStorage})
			cancel()
			if err == nil {
				return time.Now(), nil
			}
			last = err
		}
		return time.Time{}, fmt.Errorf("meshbench: no stream M%d could be created for %s (last error: %v; %s)", i, Wait, last, describeStreams(nc))
	}
	last, err := create(0)
	if err != nil {
		return 0, err
	}
	var worst time.Duration
	done := make(chan struct{})
	var stopped time.Time
	go func() { stop(leader); stopped = time.Now(); close(done) }()
	after := 0
	for i := 1; ; i++ {
		t, err := create(i)
		if err != nil {
			<-done
			return 0, fmt.Errorf("%w after the meta leader was stopped", err)
		}
		worst = max(worst, t.Sub(last))
		last = t
		select {
		case <-done:
			if after++; after >= 20 && last.After(stopped) {
				return worst, nil
			}
		default:
		}
	}
}

// describeStreams says which streams the meta leader lists, with their
// leaders, and which it cannot reach (their only replica on a node that is
// gone: "missing"), for an error message.
func describeStreams(nc *nats.Conn) string {
	msg, err := nc.Request("$JS.API.STREAM.LIST", nil, 2*time.Second)
	if err != nil {
		return fmt.Sprintf("stream list: %v", err)
	}
	var r server.JSApiStreamListResponse
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return fmt.Sprintf("stream list: %v", err)
	}
	var ok []string
	for _, si := range r.Streams {
		where := ""
		if si.Cluster != nil {
			where = si.Cluster.Leader
		}
		ok = append(ok, si.Config.Name+"@"+where)
	}
	return fmt.Sprintf("streams listed: %v, missing (no answer from their replicas): %v, error: %v", ok, r.Missing, r.Error)
}
