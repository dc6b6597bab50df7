// Command hooks shows what a node's hooks report while a mesh carries
// traffic: peers joining and leaving, clients coming and going, a client
// refused for bad credentials, a client dialling the route port by mistake,
// and every half second a table of the messages node a exchanged with each
// peer and with its own clients.
//
//	go run ./examples/hooks
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hooks:", err)
		os.Exit(1)
	}
}

var (
	outMu sync.Mutex
	t0    = time.Now()
)

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf("%7.3fs  %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
}

// hooks are node a's: it is the node this program watches.
func hooks() options.Hooks {
	return options.Hooks{
		PeerJoined: func(p mesh.Peer) { say("peer    + %s  routes %s", p.Name, p.ClusterURL) },
		PeerLeft:   func(p mesh.Peer, why mesh.LeaveReason) { say("peer    - %s  (%s)", p.Name, why) },
		ClientConnected: func(c mesh.Client) {
			say("client  + #%d %-12q from %s:%d (%s %s)", c.ID, c.Name, c.Host, c.Port, c.Lang, c.Version)
		},
		ClientDisconnected: func(c mesh.Client) {
			say("client  - #%d %-12q %s; it sent %d msgs, received %d", c.ID, c.Name, c.Reason, c.MsgsIn, c.MsgsOut)
		},
		SlowConsumer: func(c mesh.Client) { say("SLOW    #%d %q dropped: %s", c.ID, c.Name, c.Reason) },
		AuthFailed:   func(c mesh.Client) { say("AUTH    refused user %q from %s: %s", c.User, c.Host, c.Reason) },
		RouteError:   func(e mesh.RouteError) { say("ROUTE   %s: %s", e.Remote, e.Message) },
		Traffic:      printTraffic,
	}
}

func printTraffic(t mesh.Traffic) {
	var b strings.Builder
	secs := t.End.Sub(t.Start).Seconds()
	fmt.Fprintf(&b, "traffic of a over %.2fs:\n", secs)
	fmt.Fprintf(&b, "          %-10s %12s %12s %12s %12s\n", "with", "msgs out", "bytes out", "msgs in", "bytes in")
	for _, p := range t.Peers {
		fmt.Fprintf(&b, "          %-10s %12d %12d %12d %12d\n", "peer "+p.Peer.Name, p.To.Msgs, p.To.Bytes, p.From.Msgs, p.From.Bytes)
	}
	fmt.Fprintf(&b, "          %-10s %12d %12d %12d %12d", "clients", t.ToClients.Msgs, t.ToClients.Bytes, t.FromClients.Msgs, t.FromClients.Bytes)
	say("%s", b.String())
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	a, err := mesh.Start(options.Options{Name: "a", Hooks: hooks(), TrafficInterval: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	defer a.Shutdown()
	var peers []*mesh.Node
	for _, name := range []string{"b", "c"} {
		n, err := mesh.Start(options.Options{Name: name, Seed: a.ClusterURL()})
		if err != nil {
			return err
		}
		defer n.Shutdown()
		peers = append(peers, n)
	}
	if err := a.WaitForPeers(ctx, 2); err != nil {
		return err
	}

	// Subscribers on b and c, a publisher on a: a forwards each message
	// once to b and once to c (one hop), as the table shows.
	for _, n := range peers {
		nc, err := nats.Connect(n.ClientURL(), nats.Name("sub-"+n.Name()))
		if err != nil {
			return err
		}
		defer nc.Close()
		if _, err := nc.Subscribe("orders.>", func(*nats.Msg) {}); err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
	}
	if err := a.WaitForInterest(ctx, "orders.new"); err != nil {
		return err
	}
	pub, err := nats.Connect(a.ClientURL(), nats.Name("publisher"))
	if err != nil {
		return err
	}
	defer pub.Close()

	stop := time.After(1200 * time.Millisecond)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
publish:
	for {
		select {
		case <-tick.C:
			if err := pub.Publish("orders.new", []byte(`{"sku":"b-42","qty":1}`)); err != nil {
				return err
			}
		case <-stop:
			break publish
		}
	}

	// A client with credentials the mesh does not know, and one that
	// dials the route port by mistake.
	if nc, err := nats.Connect(a.ClientURL(), nats.Name("intruder"), nats.UserInfo("mallory", "x")); err == nil {
		nc.Close()
	}
	if nc, err := nats.Connect(a.ClusterURL(), nats.Name("confused"), nats.NoReconnect()); err == nil {
		nc.Close()
	}
	pub.Close()

	say("shutting down c")
	peers[1].Shutdown()
	time.Sleep(700 * time.Millisecond) // let one more traffic sample print
	return nil
}
