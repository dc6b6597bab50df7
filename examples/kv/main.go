// Command kv shows durable state shared by a mesh: three nodes hold a
// replicated JetStream key-value bucket (three replicas); one node stops,
// the others carry on writing; it comes back with its name and store and
// catches up.
//
//	go run ./examples/kv
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	root, err := os.MkdirTemp("", "natsmesh-kv-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Each node has its own store; a restarted node finds its data there.
	start := func(name, seed string) (*mesh.Node, error) {
		n, err := mesh.Start(options.Options{
			Name: name, Seed: seed,
			JetStream: true, StoreDir: root + "/" + name,
		})
		if err != nil {
			return nil, err
		}
		return n, n.WaitForJetStream(ctx)
	}
	a, err := mesh.Start(options.Options{Name: "a", JetStream: true, StoreDir: root + "/a"})
	if err != nil {
		return err
	}
	defer a.Shutdown()
	b, err := start("b", a.ClusterURL())
	if err != nil {
		return err
	}
	defer b.Shutdown()
	c, err := start("c", a.ClusterURL())
	if err != nil {
		return err
	}
	defer func() { c.Shutdown() }()
	if err := a.WaitForJetStream(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "mesh of a, b, c with JetStream ready")

	kvA, err := bucket(ctx, a, true)
	if err != nil {
		return err
	}
	if err := put(ctx, kvA, "a", "color", "red", out); err != nil {
		return err
	}
	kvB, err := bucket(ctx, b, false)
	if err != nil {
		return err
	}
	if err := get(ctx, kvB, "b", "color", "red", out); err != nil {
		return err
	}

	c.Shutdown()
	fmt.Fprintln(out, "c stopped; a and b are two of three replicas: a quorum")
	if err := put(ctx, kvB, "b", "color", "green", out); err != nil {
		return err
	}
	if err := put(ctx, kvB, "b", "size", "XL", out); err != nil {
		return err
	}

	if c, err = start("c", a.ClusterURL()); err != nil {
		return err
	}
	fmt.Fprintln(out, "c restarted with the same name and store")
	kvC, err := bucket(ctx, c, false)
	if err != nil {
		return err
	}
	for _, kv := range [][2]string{{"color", "green"}, {"size", "XL"}} {
		if err := get(ctx, kvC, "c", kv[0], kv[1], out); err != nil {
			return err
		}
	}
	return nil
}

// bucket creates (create) or binds to the bucket "config" through node n.
func bucket(ctx context.Context, n *mesh.Node, create bool) (jetstream.KeyValue, error) {
	js, err := n.JetStream()
	if err != nil {
		return nil, err
	}
	var kv jetstream.KeyValue
	err = retry(ctx, func(ctx context.Context) (err error) {
		if create {
			kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "config", Replicas: 3})
		} else {
			kv, err = js.KeyValue(ctx, "config")
		}
		return err
	})
	return kv, err
}

func put(ctx context.Context, kv jetstream.KeyValue, node, key, value string, out io.Writer) error {
	var rev uint64
	err := retry(ctx, func(ctx context.Context) (err error) {
		rev, err = kv.Put(ctx, key, []byte(value))
		return err
	})
	if err == nil {
		fmt.Fprintf(out, "%s: put %s=%s (revision %d)\n", node, key, value, rev)
	}
	return err
}

// get reads key through node until it reads want: a replica that is
// catching up may answer with an older value for a moment.
func get(ctx context.Context, kv jetstream.KeyValue, node, key, want string, out io.Writer) error {
	var e jetstream.KeyValueEntry
	err := retry(ctx, func(ctx context.Context) (err error) {
		if e, err = kv.Get(ctx, key); err == nil && string(e.Value()) != want {
			err = fmt.Errorf("%s=%s, not yet %s", key, e.Value(), want)
		}
		return err
	})
	if err == nil {
		fmt.Fprintf(out, "%s: get %s=%s (revision %d)\n", node, key, e.Value(), e.Revision())
	}
	return err
}

// retry calls f until it succeeds, a second per attempt: while a leader
// is being elected JetStream requests go unanswered, and clients retry.
func retry(ctx context.Context, f func(context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		err := f(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
