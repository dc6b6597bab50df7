// Package meshbench measures natsmesh against nats-server embedded by hand,
// the way nats-server's documentation shows: server.NewServer, go s.Start(),
// s.ReadyForConnections, explicit Routes. Every measurement runs both sides
// in the same process and the same run, on loopback, with real servers and
// nats.go clients.
//
// The benchmarks in package mesh (go test -bench . ./mesh/) and the program
// examples/bench (go run ./examples/bench) both call this package, so they
// measure the same thing. Functions return errors instead of taking a
// testing.TB, and every wait is bounded by Wait.
package meshbench

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// Wait bounds every wait in this package: forming a cluster, messages
// arriving, a hook being called.
const Wait = 30 * time.Second

// rawPoll is how often the raw side re-reads its route tables while it
// waits for a full mesh: short, so polling does not make it look slower
// than it is.
const rawPoll = 200 * time.Microsecond

// Kind says how a cluster's nodes are run.
type Kind int

const (
	// Raw is nats-server embedded by hand in the documented way, with
	// default options, no logging and explicit Routes to node 0.
	Raw Kind = iota
	// Mesh is natsmesh nodes (mesh.Start) with no hooks, started the way
	// meshtest.Start does.
	Mesh
	// MeshHooks is natsmesh nodes with every hook set (to a no-op) and
	// traffic samples every 100 ms: the most the library does alongside
	// the data path.
	MeshHooks
	// MeshSecret is natsmesh nodes with no hooks and a Secret (a fresh
	// options.NewSecret per cluster, meshtest.WithSecret): routes are
	// mutual TLS with certificates derived from it.
	MeshSecret
	// RawTLS is Raw with nats-server's own route TLS configured by hand:
	// Cluster.TLSConfig from a RawPKI made before the cluster starts
	// (not timed: an operator makes certificates once), client
	// certificates required and verified both ways (verify: true).
	RawTLS
	// RawOneRoute is Raw with routes as natsmesh configures them: one
	// connection per peer (Cluster.PoolSize -1), so no pool and no
	// dedicated system-account route. It is the floor for natsmesh's
	// formation: nats-server's own route work with natsmesh's settings,
	// without natsmesh.
	RawOneRoute
)

// String returns the kind's name as benchmarks and tables print it, e.g. "raw" or "mesh+hooks".
func (k Kind) String() string {
	switch k {
	case Raw:
		return "raw"
	case Mesh:
		return "mesh"
	case MeshHooks:
		return "mesh+hooks"
	case MeshSecret:
		return "mesh+secret"
	case RawTLS:
		return "raw+tls"
	case RawOneRoute:
		return "raw+one-route"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// AllHooks sets every hook of o to a no-op and turns traffic samples on
// (every 100 ms). It is what MeshHooks nodes run with.
func AllHooks(o *options.Options) {
	o.TrafficInterval = 100 * time.Millisecond
	o.Hooks = options.Hooks{
		PeerJoined:         func(mesh.Peer) {},
		PeerLeft:           func(mesh.Peer, mesh.LeaveReason) {},
		ClientConnected:    func(mesh.Client) {},
		ClientDisconnected: func(mesh.Client) {},
		SlowConsumer:       func(mesh.Client) {},
		AuthFailed:         func(mesh.Client) {},
		RouteError:         func(mesh.RouteError) {},
		Traffic:            func(mesh.Traffic) {},
	}
}

// Cluster is a running, fully meshed set of nodes of one Kind.
type Cluster struct {
	Kind Kind
	// Nodes are the natsmesh nodes (nil for Raw), in start order.
	Nodes []*mesh.Node
	// Servers are the embedded nats-servers of every kind, in start order:
	// Servers[i] is Nodes[i].Server() for the mesh kinds.
	Servers []*server.Server
}

// Form starts an n-node cluster of the given kind and returns it once it is
// a full mesh, with how long that took from the first call that starts a
// server. Node 0 starts first; nodes 1..n-1 start concurrently, each told
// only node 0's route URL.
//
// The mesh is formed when every node's WaitForPeers(n-1) returns, that is
// once every node has dispatched PeerJoined for every peer (which is what
// meshtest.Start waits for). The raw cluster is formed when every server's
// Routez lists n-1 distinct remote server IDs, polled every 200 µs.
//
// RawTLS certificates are made before the clock starts; a MeshSecret
// node derives its authority and mints its certificate inside mesh.Start,
// which is timed.
//
// On error nothing is left running. The caller closes the cluster.
func Form(kind Kind, n int) (*Cluster, time.Duration, error) {
	return form(kind, n, false)
}

// FormSequential is Form with the nodes started one after another, as
// an application's code naturally starts them: node 0, then node 1 once
// node 0's start has returned, and so on, every node told only node 0's
// route URL; then the same wait for a full mesh. The raw side waits for
// each server's ReadyForConnections before starting the next.
func FormSequential(kind Kind, n int) (*Cluster, time.Duration, error) {
	return form(kind, n, true)
}

// TimeFormationSequential is TimeFormation with FormSequential.
func TimeFormationSequential(kind Kind, n int) (time.Duration, error) {
	c, d, err := FormSequential(kind, n)
	if err != nil {
		return 0, err
	}
	c.Close()
	return d, nil
}

func form(kind Kind, n int, sequential bool) (*Cluster, time.Duration, error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("meshbench: %d nodes, want at least 1", n)
	}
	c := &Cluster{Kind: kind, Servers: make([]*server.Server, n)}
	var pki *RawPKI
	var err error
	if kind == RawTLS {
		if pki, err = NewRawPKI(n); err != nil {
			return nil, 0, err
		}
	}
	// Every kind starts on a collected heap: garbage a previous
	// formation left would otherwise be collected on the clock of
	// whichever kind came next.
	runtime.GC()
	start := time.Now()
	raw := kind == Raw || kind == RawTLS || kind == RawOneRoute
	switch {
	case raw && sequential:
		err = c.formRawSequential(n, rawEdit(kind, pki))
	case raw:
		err = c.formRaw(n, rawEdit(kind, pki))
	case sequential:
		err = c.formMeshSequential(n)
	default:
		err = c.formMesh(n)
	}
	d := time.Since(start)
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	return c, d, nil
}

// Start is Form without the duration.
func Start(kind Kind, n int) (*Cluster, error) {
	c, _, err := Form(kind, n)
	return c, err
}

// TimeFormation forms an n-node cluster of the given kind, closes it, and
// returns how long forming took.
func TimeFormation(kind Kind, n int) (time.Duration, error) {
	c, d, err := Form(kind, n)
	if err != nil {
		return 0, err
	}
	c.Close()
	return d, nil
}

// FormationRound times one n-node formation of every kind (TimeFormation),
// starting with kind i mod len(kinds) so that over rounds none is
// favoured by going first, and returns the durations in the order of
// kinds.
func FormationRound(i, n int, kinds ...Kind) ([]time.Duration, error) {
	ds := make([]time.Duration, len(kinds))
	for j := range kinds {
		k := (i + j) % len(kinds)
		d, err := TimeFormation(kinds[k], n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kinds[k], err)
		}
		ds[k] = d
	}
	return ds, nil
}

// formMesh forms the mesh as meshtest.Start does (meshtest.Form), with
// every hook on for MeshHooks and a fresh secret for MeshSecret.
func (c *Cluster) formMesh(n int) error {
	var opts []meshtest.Option
	switch c.Kind {
	case MeshHooks:
		opts = append(opts, func(_ int, o *options.Options) { AllHooks(o) })
	case MeshSecret:
		opts = append(opts, meshtest.WithSecret(options.NewSecret()))
	}
	mc, err := meshtest.Form(n, opts...)
	if err != nil {
		return fmt.Errorf("meshbench: mesh of %d: %w", n, err)
	}
	c.Nodes = mc.Nodes
	for i, node := range mc.Nodes {
		c.Servers[i] = node.Server()
	}
	return nil
}

// formMeshSequential starts the nodes one after another, each seeded
// with node 0's route URL, then waits for every node's WaitForPeers.
func (c *Cluster) formMeshSequential(n int) error {
	var opts []meshtest.Option
	switch c.Kind {
	case MeshHooks:
		opts = append(opts, func(_ int, o *options.Options) { AllHooks(o) })
	case MeshSecret:
		opts = append(opts, meshtest.WithSecret(options.NewSecret()))
	}
	c.Nodes = make([]*mesh.Node, n)
	// A cluster name of its own, as meshtest gives: nodes of earlier
	// rounds that still redial a reused port must not join this one.
	cluster := "meshbench-" + rand.Text()[:10]
	for i := range n {
		o := options.Options{Name: meshtest.Name(i), Cluster: cluster}
		if i > 0 {
			o.Seed = c.Nodes[0].ClusterURL()
		}
		for _, opt := range opts {
			opt(i, &o)
		}
		node, err := mesh.Start(o)
		if err != nil {
			return fmt.Errorf("meshbench: node %d of %d: %w", i, n, err)
		}
		c.Nodes[i], c.Servers[i] = node, node.Server()
	}
	mc := &meshtest.Cluster{Nodes: c.Nodes}
	if err := mc.WaitFormed(Wait); err != nil {
		return fmt.Errorf("meshbench: mesh of %d: %w", n, err)
	}
	return nil
}

// rawEdit is what a raw kind changes in server i's options: nothing for
// Raw, route TLS from pki for RawTLS, one route per peer for RawOneRoute.
func rawEdit(kind Kind, pki *RawPKI) func(i int, o *server.Options) {
	switch kind {
	case RawTLS:
		return func(i int, o *server.Options) { o.Cluster.TLSConfig = pki.RouteTLS(i) }
	case RawOneRoute:
		return oneRoute
	}
	return func(int, *server.Options) {}
}

// formRawSequential starts the raw servers one after another (each
// until ReadyForConnections), each routed to node 0 and with edit(i,
// options) applied, then waits for a full mesh.
func (c *Cluster) formRawSequential(n int, edit func(i int, o *server.Options)) error {
	var seed *url.URL
	for i := range n {
		s, err := startRawServerWith(i, seed, func(o *server.Options) { edit(i, o) })
		if err != nil {
			return err
		}
		c.Servers[i] = s
		if i == 0 {
			seed = &url.URL{Scheme: "nats", Host: s.ClusterAddr().String()}
		}
	}
	return waitRawMesh(c.Servers, Wait)
}

// oneRoute configures a raw server's routes as natsmesh does: one
// connection per peer, no pool (see RawOneRoute).
func oneRoute(_ int, o *server.Options) { o.Cluster.PoolSize = -1 }

// formRaw forms a raw cluster: node 0, then the others at once, each
// routed to node 0 and with edit(i, options) applied; then it waits for a
// full mesh. The caller closes c on error.
func (c *Cluster) formRaw(n int, edit func(i int, o *server.Options)) error {
	editOf := func(i int) func(*server.Options) { return func(o *server.Options) { edit(i, o) } }
	first, err := startRawServerWith(0, nil, editOf(0))
	if err != nil {
		return err
	}
	c.Servers[0] = first
	seed := &url.URL{Scheme: "nats", Host: first.ClusterAddr().String()}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Servers[i], errs[i] = startRawServerWith(i, seed, editOf(i))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return waitRawMesh(c.Servers, Wait)
}

// StartRawServer starts one nats-server as its documentation shows:
// NewServer, go Start, ReadyForConnections (which polls every 25 ms), with
// loopback addresses, free ports, no logging and, unless seed is nil,
// Routes = [seed].
func StartRawServer(i int, seed *url.URL) (*server.Server, error) {
	return startRawServerWith(i, seed, func(*server.Options) {})
}

// startRawServerWith is StartRawServer with edit applied to the options
// before the server is made.
func startRawServerWith(i int, seed *url.URL, edit func(*server.Options)) (*server.Server, error) {
	opts := &server.Options{
		ServerName: fmt.Sprintf("raw-%d", i),
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		Cluster:    server.ClusterOpts{Name: "rawbench", Host: "127.0.0.1", Port: server.RANDOM_PORT},
	}
	if seed != nil {
		opts.Routes = []*url.URL{seed}
	}
	edit(opts)
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("meshbench: raw node %d: %w", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("meshbench: raw node %d not ready for connections within 10s", i)
	}
	return s, nil
}

// waitRawMesh polls until every server's Routez lists len(servers)-1
// distinct remote server IDs, or timeout passes.
func waitRawMesh(servers []*server.Server, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	want := len(servers) - 1
	for next := 0; next < len(servers); {
		got, err := distinctRemotes(servers[next])
		if err != nil {
			return fmt.Errorf("meshbench: raw node %d: Routez: %w", next, err)
		}
		if got >= want {
			next++ // once a full view, a server keeps it: no need to recheck
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("meshbench: raw mesh of %d did not form within %s: node %d has %d of %d routes",
				len(servers), timeout, next, got, want)
		}
		time.Sleep(rawPoll)
	}
	return nil
}

func distinctRemotes(s *server.Server) (int, error) {
	rz, err := s.Routez(nil)
	if err != nil {
		return 0, err
	}
	ids := map[string]struct{}{}
	for _, r := range rz.Routes {
		if r.RemoteID != "" {
			ids[r.RemoteID] = struct{}{}
		}
	}
	return len(ids), nil
}

// ClientURL returns node i's client URL.
func (c *Cluster) ClientURL(i int) string {
	if c.Nodes != nil {
		return c.Nodes[i].ClientURL()
	}
	return c.Servers[i].ClientURL()
}

// ShutdownNode shuts node i down at once: Node.Shutdown for the mesh kinds,
// Server.Shutdown for Raw. It returns when the server has stopped.
func (c *Cluster) ShutdownNode(i int) {
	if c.Nodes != nil {
		c.Nodes[i].Shutdown()
		return
	}
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Close shuts every node down, concurrently, and waits. It is safe to call
// more than once and after ShutdownNode.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for i, s := range c.Servers {
		if s == nil && (c.Nodes == nil || c.Nodes[i] == nil) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Nodes != nil && c.Nodes[i] != nil {
				c.Nodes[i].Shutdown()
				return
			}
			s.Shutdown()
			s.WaitForShutdown()
		}()
	}
	wg.Wait()
}

// TimeStart starts one node of the given kind on loopback with free client
// and route ports, no seed, and returns how long its start took; the node
// is then shut down, untimed.
//
// Mesh: mesh.Start with default options (a name only), until it returns.
// Raw: server.NewServer, Start, until its client and route listeners are
// bound (Addr and ClusterAddr, polled every 20 µs: a bare server's own
// start, without ReadyForConnections' 25 ms polls), with the same hosts,
// no logging, no signal handlers and nats-server's defaults otherwise.
// Kinds other than Mesh and Raw are refused.
func TimeStart(kind Kind, i int) (time.Duration, error) {
	switch kind {
	case Mesh:
		start := time.Now()
		node, err := mesh.Start(options.Options{Name: fmt.Sprintf("start-%d", i)})
		d := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("meshbench: mesh.Start: %w", err)
		}
		node.Shutdown()
		return d, nil
	case Raw:
		start := time.Now()
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("start-%d", i),
			Host:       options.DefaultHost,
			Port:       server.RANDOM_PORT,
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "rawbench", Host: options.DefaultHost, Port: server.RANDOM_PORT},
		})
		if err != nil {
			return 0, fmt.Errorf("meshbench: raw server: %w", err)
		}
		s.Start()
		deadline := start.Add(Wait)
		for s.Addr() == nil || s.ClusterAddr() == nil {
			if time.Now().After(deadline) {
				s.Shutdown()
				return 0, fmt.Errorf("meshbench: raw server not listening within %s", Wait)
			}
			time.Sleep(20 * time.Microsecond)
		}
		d := time.Since(start)
		s.Shutdown()
		s.WaitForShutdown()
		return d, nil
	}
	return 0, fmt.Errorf("meshbench: TimeStart(%s): only mesh and raw", kind)
}
