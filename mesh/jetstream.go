package mesh

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsmesh/natsmesh/options"
)

// ErrNoJetStream is returned by the JetStream methods of a node started
// without Options.JetStream.
var ErrNoJetStream = errors.New("natsmesh: JetStream is off on this node (Options.JetStream)")

// jetStreamConnName names the in-process connection behind Node.JetStream.
const jetStreamConnName = "natsmesh-jetstream"

// jetStreamState is a node's JetStream bookkeeping. A node without
// JetStream has one too (all its methods are no-ops then).
type jetStreamState struct {
	on      bool
	tempDir string // the store made for StoreDir "", removed at stop

	mu      sync.Mutex
	nc      *nats.Conn // behind Node.JetStream, made on first use
	stopped bool

	// noJS holds the IDs of peers that said they run without JetStream:
	// WaitForJetStream does not wait for them to join the meta group.
	noJS sync.Map

	reaper *lostReaper // nil unless Options.RemoveLostAfter is set
	lock   *os.File    // holds the lock on a given StoreDir until stop
}

// storeLockName is the file in a StoreDir that a running node locks.
const storeLockName = ".natsmesh.lock"

// errStoreInUse says that another running node holds a StoreDir.
var errStoreInUse = errors.New("in use by another running node (each node needs a store of its own)")

// prepareJetStream readies a node's options for clustered JetStream
// before its server options are made: it makes the temporary store if
// StoreDir is "", and, for a node with no route to dial (the first node of
// a mesh), fixes its route port so that the node can be given a route to
// itself (see jetStreamServerOptions). A StoreDir given is locked for this
// node. Start calls it once the options are checked, before anything that
// would need undoing.
func prepareJetStream(n *config, seeds int) (*jetStreamState, error) {
	js := &jetStreamState{on: n.JetStream}
	if !n.JetStream {
		return js, nil
	}
	if n.ClusterPort == 0 && seeds == 0 {
		port, err := freeTCPPort(n.ClusterHost)
		if err != nil {
			return nil, &options.FieldError{Field: "ClusterHost", Value: n.ClusterHost, Err: fmt.Errorf("cannot find a free route port for JetStream: %w", err)}
		}
		n.ClusterPort = port
	}
	if n.StoreDir != "" {
		lock, err := lockStore(n.StoreDir)
		if err != nil {
			return nil, &options.FieldError{Field: "StoreDir", Value: n.StoreDir, Err: err}
		}
		js.lock = lock
	} else {
		// A name may hold a path separator, which MkdirTemp refuses.
		safe := strings.Map(func(r rune) rune {
			if r == '/' || r == os.PathSeparator {
				return '_'
			}
			return r
		}, n.Name)
		dir, err := os.MkdirTemp("", "natsmesh-js-"+safe+"-")
		if err != nil {
			return nil, fmt.Errorf("natsmesh: temporary JetStream store for %s: %w", n.Name, err)
		}
		js.tempDir = dir
		n.StoreDir = dir
		newServerLog(n.Logger, n.Name, nil).log.Warn(
			"natsmesh: JetStream store is a temporary directory, removed at shutdown: its data will not survive a restart (set Options.StoreDir to keep it)",
			"store_dir", dir)
	}
	return js, nil
}

// startJetStream is the node's JetStream part of startRuntime: it makes
// sure the clients' account has JetStream, and starts the lost-peer
// reaper.
//
// nats-server turns JetStream on for the global account (where clients
// without credentials, and the node's own connections, land) by itself
// only while the server has no account but the global and the system
// one; a further account (as client authorization adds) would leave the
// global one without JetStream: "jetstream not enabled for account".
func (n *Node) startJetStream() {
	if !n.js.on {
		return
	}
	if err := n.serveJSPeers(); err != nil {
		n.log.log.Error("natsmesh: cannot serve the JetStream peers request", "err", err)
	}
	if g := n.srv.GlobalAccount(); !g.JetStreamEnabled() {
		if err := g.EnableJetStream(nil, nil); err != nil {
			n.log.log.Error("natsmesh: cannot turn JetStream on for the clients' account", "err", err)
		}
	}
	n.startReaper()
}

// jetStreamServerOptions turns JetStream on in the server options.
//
// nats-server refuses clustered JetStream on a server with no configured
// route ("JetStream cluster requires configured routes"), which the first
// node of a mesh does not have, and without clustering a node could never
// share its streams with nodes that join later. Such a node is given a
// route to its own route listener: nats-server counts it as configured,
// and never dials it (it skips addresses that are its own), so it costs
// nothing. The meta group then starts with an expected size of two and
// grows as the meta leader adds the nodes that join.
func jetStreamServerOptions(o *server.Options, n config) {
	if !n.JetStream {
		return
	}
	o.JetStream = true
	o.StoreDir = n.StoreDir
	if len(o.Routes) == 0 && n.ClusterPort > 0 {
		o.Routes = []*url.URL{selfRoute(n)}
	}
}

// selfRoute is a route URL that reaches this node's own route listener.
func selfRoute(n config) *url.URL {
	host := concrete(n.ClusterHost, "127.0.0.1")
	return &url.URL{Scheme: "nats", Host: net.JoinHostPort(host, strconv.Itoa(n.ClusterPort))}
}

// closeConn closes the JetStream connection and refuses new handles. The
// node calls it before its server stops: an in-process connection the
// server drops would try to reconnect to the stopping server, and hang
// in its write until nats.go's one-minute flusher timeout.
func (js *jetStreamState) closeConn() {
	if js == nil {
		return
	}
	js.mu.Lock()
	nc, reaper := js.nc, js.reaper
	js.nc, js.reaper = nil, nil
	js.stopped = true
	js.mu.Unlock()
	if reaper != nil {
		reaper.stop()
	}
	if nc != nil {
		nc.Close()
	}
}

// stop closes the JetStream connection and removes a temporary store. The
// node calls it once its server has shut down.
func (js *jetStreamState) stop(log *slog.Logger) {
	if js == nil {
		return
	}
	js.closeConn()
	js.mu.Lock()
	dir, lock := js.tempDir, js.lock
	js.tempDir, js.lock = "", nil
	js.mu.Unlock()
	if lock != nil {
		lock.Close()
	}
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil && log != nil {
			log.Warn("natsmesh: cannot remove the temporary JetStream store", "store_dir", dir, "err", err)
		}
	}
}

// JetStream returns a handle of github.com/nats-io/nats.go/jetstream over
// this node's in-process JetStream connection, made on first use and
// closed at Shutdown or Leave. opts are passed to jetstream.New. It returns
// ErrNoJetStream if the node runs without Options.JetStream (stopped or
// not), ErrShutdown once a node with JetStream has stopped.
//
// The handle works as soon as Start returns, but JetStream API calls fail
// with "JetStream system temporarily unavailable" until the meta group has
// a leader: call WaitForJetStream first.
func (n *Node) JetStream(opts ...jetstream.JetStreamOpt) (jetstream.JetStream, error) {
	if !n.js.on {
		return nil, ErrNoJetStream
	}
	n.js.mu.Lock()
	defer n.js.mu.Unlock()
	if n.js.stopped {
		return nil, ErrShutdown
	}
	if n.js.nc == nil {
		nc, err := n.Connect(nats.Name(jetStreamConnName))
		if err != nil {
			return nil, err
		}
		n.js.nc = nc
	}
	js, err := jetstream.New(n.js.nc, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsmesh: JetStream handle on %s: %w", n.Name(), err)
	}
	return js, nil
}

// WaitForJetStream returns nil once JetStream is ready on this node: the
// meta group has a leader that is in the mesh (a leader that crashed is
// not waited for twice: its successor is), this node is a current member of it, and every
// peer this node sees that runs JetStream is a member too, so that an
// asset created right after (an R3 stream, a KV bucket) can be placed on
// any of them. It returns ctx's error (saying what it still waits for),
// ErrShutdown if the node stops first, or ErrNoJetStream.
//
// The meta group of a new mesh has a leader once two of its nodes are up:
// on the first node alone, WaitForJetStream waits for a second.
func (n *Node) WaitForJetStream(ctx context.Context) error {
	if !n.js.on {
		return ErrNoJetStream
	}
	wait := 500 * time.Microsecond
	for {
		why := n.jetStreamNotReady(ctx)
		if why == "" {
			return nil
		}
		select {
		case <-n.closed:
			return ErrShutdown
		case <-ctx.Done():
			return fmt.Errorf("natsmesh: JetStream on %s not ready (%s): %w", n.Name(), why, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// jetStreamNotReady returns what keeps JetStream from being ready on this
// node, or "" if nothing does.
func (n *Node) jetStreamNotReady(ctx context.Context) string {
	meta, disabled := n.metaGroup()
	switch {
	case disabled:
		return "JetStream is disabled on this node; was it removed from the meta group?"
	case meta == nil:
		return "no meta group yet"
	case meta.Leader == "":
		return "the meta group has no leader"
	case !n.srv.JetStreamIsCurrent():
		return "this node is not a current member of the meta group"
	}
	peers := n.Peers()
	if meta.Leader != n.Name() && !slices.ContainsFunc(peers, func(p Peer) bool { return p.Name == meta.Leader }) {
		// A leader that crashed is still named until the election
		// timeout passes; it is gone from the mesh at once.
		return fmt.Sprintf("the meta leader %s is not in the mesh", meta.Leader)
	}
	members := map[string]bool{n.srv.Node(): true}
	for _, r := range meta.Replicas {
		members[r.Peer] = true
	}
	for _, p := range peers {
		if !members[nodeID(p.Name)] && n.peerRunsJetStream(ctx, p) {
			return fmt.Sprintf("peer %s runs JetStream but is not in the meta group yet", p.Name)
		}
	}
	names := []string{meta.Leader, n.Name()}
	for _, r := range meta.Replicas {
		names = append(names, r.Name)
	}
	return n.leaderCanPlace(ctx, meta.Leader, peers, names)
}

// jsPeersSubject is where a natsmesh node answers, in the system account,
// with the meta-group members it can place assets on: nats-server's
// JetStreamClusterPeers, which only the meta leader knows (empty
// elsewhere).
func jsPeersSubject(id string) string { return "$SYS.NATSMESH." + id + ".JSPEERS" }

// serveJSPeers answers on jsPeersSubject for this node.
func (n *Node) serveJSPeers() error {
	_, err := n.sys.nc.Subscribe(jsPeersSubject(n.ID()), func(m *nats.Msg) {
		b, _ := json.Marshal(n.srv.JetStreamClusterPeers())
		_ = m.Respond(b)
	})
	return err
}

// leaderCanPlace returns "" once the meta leader (named leader) would
// place assets on every member in names: it has heard from each one's
// JetStream (its statistics), without which it refuses a member as
// "offline" ("no suitable peers for placement"), seen right after a node
// joined. A leader that is a stock nats-server is not asked.
func (n *Node) leaderCanPlace(ctx context.Context, leader string, peers []Peer, names []string) string {
	var placeable []string
	if leader == n.Name() {
		placeable = n.srv.JetStreamClusterPeers()
	} else {
		i := slices.IndexFunc(peers, func(p Peer) bool { return p.Name == leader })
		if i < 0 {
			return fmt.Sprintf("the meta leader %s is not in the mesh", leader)
		}
		id := peers[i].ID
		if n.sys.acc.Interest(jsPeersSubject(id)) == 0 {
			if n.sys.acc.Interest(describeSubject(id)) == 0 {
				return "" // a stock nats-server: nothing to ask
			}
			return fmt.Sprintf("the meta leader %s's answer to JetStream peer requests has not arrived yet", leader)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		msg, err := n.sys.nc.RequestWithContext(ctx, jsPeersSubject(id), nil)
		if err != nil || json.Unmarshal(msg.Data, &placeable) != nil {
			return fmt.Sprintf("the meta leader %s did not say which members it can place on", leader)
		}
	}
	for _, name := range names {
		if !slices.Contains(placeable, name) {
			return fmt.Sprintf("the meta leader %s has not heard from %s's JetStream yet", leader, name)
		}
	}
	return ""
}

// metaGroup returns this node's view of the JetStream meta group (nil if
// it has none yet), and whether JetStream is disabled on the node.
func (n *Node) metaGroup() (meta *server.MetaClusterInfo, disabled bool) {
	jsz, err := n.srv.Jsz(&server.JSzOptions{})
	if err != nil || jsz == nil {
		return nil, false
	}
	return jsz.Meta, jsz.Disabled
}

// peerRunsJetStream asks peer p whether it runs JetStream. A "no" is
// remembered (a server's JetStream does not come back without a restart,
// which gives it a new ID); a "yes", or no answer, is asked again next time.
func (n *Node) peerRunsJetStream(ctx context.Context, p Peer) bool {
	if _, no := n.js.noJS.Load(p.ID); no {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	msg, err := n.sys.nc.RequestWithContext(ctx, "$SYS.REQ.SERVER."+p.ID+".JSZ", nil)
	if err != nil {
		return true
	}
	var r struct {
		Data struct {
			Disabled bool `json:"disabled"`
		} `json:"data"`
	}
	if json.Unmarshal(msg.Data, &r) == nil && r.Data.Disabled {
		n.js.noJS.Store(p.ID, true)
		return false
	}
	return true
}

// nodeID is the ID nats-server's raft layer gives the server named name:
// eight characters of its SHA-256 (server.Server.Node).
func nodeID(name string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(name))
	b := make([]byte, 8)
	for i := range b {
		b[i] = digits[int(sum[i]%byte(len(digits)))]
	}
	return string(b)
}
