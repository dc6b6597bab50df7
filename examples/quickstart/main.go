// Command quickstart starts a three-node mesh in one process from a single
// seed, prints membership events as they happen, sends a message from a
// client of one node to a subscriber on another, then shuts that node down
// and shows the subscriber carrying on through a peer.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
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
	fmt.Printf("%6.1fms  %s\n", float64(time.Since(t0).Microseconds())/1000, fmt.Sprintf(format, args...))
}

// hooks prints what node name sees.
func hooks(name string) options.Hooks {
	return options.Hooks{
		PeerJoined: func(p mesh.Peer) { say("  [%s] sees %s join", name, p.Name) },
		PeerLeft:   func(p mesh.Peer, why mesh.LeaveReason) { say("  [%s] sees %s leave (%s)", name, p.Name, why) },
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	say("starting node a, the seed")
	a, err := mesh.Start(options.Options{Name: "a", Hooks: hooks("a")})
	if err != nil {
		return err
	}
	defer a.Shutdown()
	say("  a: clients %s, routes %s", a.ClientURL(), a.ClusterURL())

	say("starting b and c, each given only a's route URL")
	var nodes []*mesh.Node
	for _, name := range []string{"b", "c"} {
		n, err := mesh.Start(options.Options{Name: name, Seed: a.ClusterURL(), Hooks: hooks(name)})
		if err != nil {
			return err
		}
		defer n.Shutdown()
		nodes = append(nodes, n)
	}
	b, c := nodes[0], nodes[1]
	for _, n := range []*mesh.Node{a, b, c} {
		if err := n.WaitForPeers(ctx, 2); err != nil {
			return err
		}
	}
	say("full mesh: b and c found each other through a")

	// The subscriber dials c's client port over TCP: it learns a's and b's
	// client URLs from c and fails over to them.
	reconnected := make(chan string, 1)
	sub, err := nats.Connect(c.ClientURL(),
		nats.Name("subscriber"),
		nats.ReconnectWait(50*time.Millisecond),
		nats.DisconnectErrHandler(func(nc *nats.Conn, _ error) {
			if !nc.IsClosed() {
				say("subscriber lost its node")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { reconnected <- nc.ConnectedServerName() }),
	)
	if err != nil {
		return err
	}
	defer sub.Close()
	got := make(chan *nats.Msg, 16)
	if _, err := sub.ChanSubscribe("greetings", got); err != nil {
		return err
	}
	if err := sub.Flush(); err != nil {
		return err
	}
	say("subscriber connected to %s, listening on \"greetings\"", sub.ConnectedServerName())

	// The publisher is in process on a: no socket at all.
	pub, err := a.Connect(nats.Name("publisher"))
	if err != nil {
		return err
	}
	defer pub.Close()

	send := func(text string) error {
		// Subscriptions reach other nodes asynchronously; wait until a
		// knows of the subscriber before publishing.
		if err := a.WaitForInterest(ctx, "greetings"); err != nil {
			return err
		}
		say("publisher on a sends %q", text)
		if err := pub.Publish("greetings", []byte(text)); err != nil {
			return err
		}
		select {
		case m := <-got:
			say("subscriber on %s receives %q", sub.ConnectedServerName(), m.Data)
			return nil
		case <-ctx.Done():
			return fmt.Errorf("message %q not delivered: %w", text, ctx.Err())
		}
	}
	if err := send("hello from a"); err != nil {
		return err
	}

	say("shutting down c, the subscriber's node")
	c.Shutdown()
	select {
	case server := <-reconnected:
		say("subscriber carried on: reconnected to %s", server)
	case <-ctx.Done():
		return fmt.Errorf("subscriber did not reconnect: %w", ctx.Err())
	}
	if err := sub.Flush(); err != nil { // its subscription is now known to the mesh
		return err
	}
	for _, n := range []*mesh.Node{a, b} {
		if err := waitPeers(ctx, n, 1); err != nil {
			return err
		}
	}
	if err := send("still there?"); err != nil {
		return err
	}
	say("done: a and b see %d peer each", len(a.Peers()))
	return nil
}

// waitPeers waits until n sees exactly want peers.
func waitPeers(ctx context.Context, n *mesh.Node, want int) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for len(n.Peers()) != want {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%s sees %d peers, want %d: %w", n.Name(), len(n.Peers()), want, ctx.Err())
		}
	}
	return nil
}
