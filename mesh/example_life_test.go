package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// Done tells the application that a node stopped, whatever stopped it, and
// Err why: here its nats-server is shut down directly.
func ExampleNode_Done() {
	n, err := mesh.Start(options.Options{Name: "a", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	url := n.ClientURL()
	n.Server().Shutdown() // not n.Shutdown(): the node did not ask for it

	<-n.Done()
	fmt.Println("stopped:", errors.Is(n.Err(), mesh.ErrServerStopped))
	fmt.Println("same URL:", n.ClientURL() == url)
	fmt.Println("peers:", len(n.Peers()))
	_, err = n.Connect()
	fmt.Println("connect:", errors.Is(err, mesh.ErrShutdown))
	// Output:
	// stopped: true
	// same URL: true
	// peers: 0
	// connect: true
}

// A node whose name is taken in the mesh cannot join: WaitForPeers says so.
func ExampleErrDuplicateName() {
	a, _ := mesh.Start(options.Options{Name: "a", Logger: slog.New(slog.DiscardHandler)})
	defer a.Shutdown()
	twin, _ := mesh.Start(options.Options{Name: "a", Seed: a.ClusterURL(), Logger: slog.New(slog.DiscardHandler)})
	defer twin.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := twin.WaitForPeers(ctx, 1)
	fmt.Println(errors.Is(err, mesh.ErrDuplicateName))
	// Output: true
}
