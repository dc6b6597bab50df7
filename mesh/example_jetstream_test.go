package mesh_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// A replicated key-value bucket across two JetStream nodes: written
// through one, read through the other. (StoreDir "" gives each node a
// temporary store; give each its own directory to keep the data.)
func ExampleNode_JetStream() {
	a, err := mesh.Start(options.Options{Name: "a", JetStream: true})
	if err != nil {
		panic(err)
	}
	defer a.Shutdown()
	b, err := mesh.Start(options.Options{Name: "b", Seed: a.ClusterURL(), JetStream: true})
	if err != nil {
		panic(err)
	}
	defer b.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []*mesh.Node{a, b} {
		if err := n.WaitForJetStream(ctx); err != nil { // the meta group has a leader, both are members
			panic(err)
		}
	}
	jsA, _ := a.JetStream()
	kvA, err := jsA.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "config", Replicas: 2})
	if err != nil {
		panic(err)
	}
	if _, err := kvA.Put(ctx, "color", []byte("green")); err != nil {
		panic(err)
	}

	jsB, _ := b.JetStream()
	kvB, err := jsB.KeyValue(ctx, "config")
	if err != nil {
		panic(err)
	}
	// Reads are served by the nearest replica, b's own, which applies a
	// write a moment after it is acknowledged: a fresh read may retry.
	e, err := kvB.Get(ctx, "color")
	for err != nil && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		e, err = kvB.Get(ctx, "color")
	}
	if err != nil {
		panic(err)
	}
	fmt.Printf("b reads color=%s\n", e.Value())
	// Output: b reads color=green
}
