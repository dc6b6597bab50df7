package mesh_test

import (
	"context"
	"fmt"
	"time"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// Three nodes from one seed: b and c are given only a's route URL and
// find each other through it.
func ExampleStart() {
	a, err := mesh.Start(options.Options{Name: "a"})
	if err != nil {
		panic(err)
	}
	defer a.Shutdown()
	b, _ := mesh.Start(options.Options{Name: "b", Seed: a.ClusterURL()})
	defer b.Shutdown()
	c, _ := mesh.Start(options.Options{Name: "c", Seed: a.ClusterURL()})
	defer c.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.WaitForPeers(ctx, 2); err != nil {
		panic(err)
	}
	for _, p := range b.Peers() {
		fmt.Println("b sees", p.Name)
	}
	// Output:
	// b sees a
	// b sees c
}

// Hooks tell the application when peers join and leave, and why.
func ExampleStart_hooks() {
	events := make(chan string, 4)
	a, _ := mesh.Start(options.Options{Name: "a", Hooks: options.Hooks{
		PeerJoined: func(p mesh.Peer) { events <- p.Name + " joined" },
		PeerLeft:   func(p mesh.Peer, why mesh.LeaveReason) { events <- p.Name + " " + why.String() },
	}})
	defer a.Shutdown()

	b, _ := mesh.Start(options.Options{Name: "b", Seed: a.ClusterURL()})
	fmt.Println(<-events)
	b.Shutdown() // b says goodbye, so a reports it as "left", not "lost"
	fmt.Println(<-events)
	// Output:
	// b joined
	// b left
}

// Connect gives an in-process client: no socket. Clients on different
// nodes reach each other through the mesh.
func ExampleNode_Connect() {
	a, _ := mesh.Start(options.Options{Name: "a"})
	defer a.Shutdown()
	b, _ := mesh.Start(options.Options{Name: "b", Seed: a.ClusterURL()})
	defer b.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = b.WaitForPeers(ctx, 1)

	sub, _ := b.Connect()
	defer sub.Close()
	s, _ := sub.SubscribeSync("greetings")
	_ = sub.Flush()
	_ = a.WaitForInterest(ctx, "greetings") // the subscription has reached a

	pub, _ := a.Connect()
	defer pub.Close()
	_ = pub.Publish("greetings", []byte("hello from a"))
	m, _ := s.NextMsg(10 * time.Second)
	fmt.Printf("%s on b got %q\n", m.Subject, m.Data)
	// Output:
	// greetings on b got "hello from a"
}

// Leave is the graceful exit: clients are moved to peers a few at a time,
// then the node shuts down and its peers report it as left.
func ExampleNode_Leave() {
	a, _ := mesh.Start(options.Options{Name: "a"})
	defer a.Shutdown()
	b, _ := mesh.Start(options.Options{Name: "b", Seed: a.ClusterURL(), LameDuckDuration: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.WaitForPeers(ctx, 1)

	if err := b.Leave(ctx); err != nil {
		panic(err)
	}
	for len(a.Peers()) > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("a has", len(a.Peers()), "peers")
	// Output:
	// a has 0 peers
}
