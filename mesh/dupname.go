package mesh

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A node whose name another node of the mesh already has is refused by
// that node (nats-server closes the route and logs "Remote server has a
// duplicate name" on the refusing side only); the newcomer sees nothing
// but closed routes. So a natsmesh node looks for a clash itself:
//   - while it has no peer, it reads the INFO its seeds' route ports send
//     to anyone who connects (their server name and ID);
//   - on each join, it asks the new peer for the names of its peers
//     (namesSubject), and reads the INFO of any with its own name.
// Either way, a clash counts only once the clashing node itself answers
// with the name and an ID that is not this node's: a node restarted under
// its old name (Leave is a rolling restart) is not mistaken for a clash
// while its peers still list its old self.

// probeTimeout bounds reading a route port's INFO.
const probeTimeout = time.Second

// namesSubject is where a natsmesh node answers, in the system account,
// with its current peers' names, IDs and route URLs.
func namesSubject(id string) string { return "$SYS.NATSMESH." + id + ".PEERS" }

// namedPeer is one entry of a namesSubject reply.
type namedPeer struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	ClusterURL string `json:"cluster_url"`
}

// dupState records a name clash once found.
type dupState struct {
	once sync.Once
	err  error
}

// duplicate returns the name clash found, if any.
func (n *Node) duplicate() error {
	select {
	case <-n.dupFound:
		return n.dup.err
	default:
		return nil
	}
}

// foundDuplicate records a name clash: WaitForPeers fails with it.
func (n *Node) foundDuplicate(err error) {
	n.dup.once.Do(func() {
		n.dup.err = err
		n.log.log.Error("natsmesh: this node cannot join the mesh", "err", err)
		close(n.dupFound)
	})
}

// serveNames answers namesSubject requests with the node's view.
func (n *Node) serveNames(sys *sysConn) error {
	sub, err := sys.nc.Subscribe(namesSubject(n.ID()), func(m *nats.Msg) {
		peers, _ := n.disp.peers()
		out := make([]namedPeer, len(peers))
		for i, p := range peers {
			out[i] = namedPeer{Name: p.Name, ID: p.ID, ClusterURL: p.ClusterURL}
		}
		reply, _ := json.Marshal(out)
		_ = m.Respond(reply)
	})
	if err != nil {
		return fmt.Errorf("natsmesh: subscribe %s: %w", namesSubject(n.ID()), err)
	}
	sys.subs = append(sys.subs, sub)
	return nil
}

// checkPeerNames asks a peer that just joined for its peers, and checks
// those with this node's name. It runs on its own goroutine, bounded by
// describeTimeout.
func (n *Node) checkPeerNames(p Peer) {
	if n.duplicate() != nil || n.stopping() || n.sys.acc.Interest(namesSubject(p.ID)) == 0 {
		return // found already, going away, or a stock nats-server
	}
	ctx, cancel := n.lifeContext(describeTimeout)
	defer cancel()
	msg, err := n.sys.nc.RequestWithContext(ctx, namesSubject(p.ID), nil)
	if err != nil {
		return
	}
	var peers []namedPeer
	if json.Unmarshal(msg.Data, &peers) != nil {
		return
	}
	for _, q := range peers {
		if q.Name != n.Name() || q.ID == n.ID() || q.ClusterURL == "" {
			continue
		}
		if err := n.confirmClash(ctx, q.ClusterURL, fmt.Sprintf("a peer of %s", p.Name)); err != nil {
			n.foundDuplicate(err)
			return
		}
	}
}

// checkSeedNames reads the INFO of each seed's route port and records a
// clash if one is another node with this node's name.
func (n *Node) checkSeedNames(seeds []*url.URL) {
	if n.duplicate() != nil || n.joiner.routeTLS() {
		// With TLS on routes, a connection that hangs up before its
		// handshake is logged as an error by the seed: no probes then.
		// A clash with a node other than the seed is still found
		// through the peers (checkPeerNames); one with the seed is not.
		return
	}
	for _, u := range seeds {
		ctx, cancel := n.lifeContext(probeTimeout)
		err := n.confirmClash(ctx, u.String(), "seed")
		cancel()
		if err != nil {
			n.foundDuplicate(err)
			return
		}
	}
}

// confirmClash reads the INFO of the route port at routeURL and returns an
// error matching ErrDuplicateName if the node there has this node's name
// but is not this node; nil otherwise (also if it does not answer).
func (n *Node) confirmClash(ctx context.Context, routeURL, what string) error {
	u, err := url.Parse(routeURL)
	if err != nil || u.Host == "" {
		return nil
	}
	name, id, err := probeRouteInfo(ctx, u.Host)
	if err != nil || name != n.Name() || id == n.ID() {
		return nil
	}
	return fmt.Errorf("%w: node %q (id %s) cannot join: the node at %s (%s, id %s) has the same name; names must be unique in a mesh",
		ErrDuplicateName, n.Name(), n.ID(), u.Redacted(), what, id)
}

// lifeContext returns a context that ends after d or when the node stops.
func (n *Node) lifeContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-n.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// probeRouteInfo connects to a route port and reads the server's INFO,
// which nats-server sends first to anyone who connects, then hangs up.
func probeRouteInfo(ctx context.Context, hostport string) (name, id string, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	line, err := bufio.NewReader(io.LimitReader(conn, 1<<20)).ReadString('\n')
	if err != nil {
		return "", "", err
	}
	rest, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		return "", "", errors.New("no INFO")
	}
	var info struct {
		ID   string `json:"server_id"`
		Name string `json:"server_name"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &info); err != nil {
		return "", "", err
	}
	return info.Name, info.ID, nil
}
