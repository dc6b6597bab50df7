package meshtest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// A test of an application's: three nodes, fully meshed before Start
// returns and shut down when the test ends; a message published on one
// node reaches a subscriber on another. (This example is compiled, not
// run: it needs the *testing.T of a Test function.)
func ExampleStart() {
	var t *testing.T // func TestOrders(t *testing.T) { ... }

	c := meshtest.Start(t, 3, meshtest.WithSecret(options.NewSecret()))
	sub, err := nats.Connect(c.Nodes[1].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := nats.Connect(c.Nodes[2].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	s, err := sub.SubscribeSync("orders.created")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	// The subscription reaches node c's routes asynchronously: wait for it.
	if err := c.Nodes[2].WaitForInterest(t.Context(), "orders.created"); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("orders.created", []byte("order 1")); err != nil {
		t.Fatal(err)
	}
	msg, err := s.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node b got %q", msg.Data)
}
