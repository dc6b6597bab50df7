package mesh_test

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// TestDepartureIsLeft: a peer that shuts down or leaves is reported Left,
// never Lost, however soon after it joined and however busy the host. Each
// round starts a peer seeded from a long-lived node, waits for the join,
// and stops the peer with Shutdown (or, every fourth round, Leave).
//
// NATSMESH_DEPARTURES sets the number of rounds (default 20), to hunt a
// rare failure: run it under -race on a loaded machine. Before peers
// confirmed goodbyes (tracker.farewell), about 1 round in 1000 failed that
// way: the long-lived node's write on the route failed first and it
// dropped the route while nats-server's goodbye still waited to be read.
func TestDepartureIsLeft(t *testing.T) {
	t.Parallel()
	rounds := 20
	if s := os.Getenv("NATSMESH_DEPARTURES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("NATSMESH_DEPARTURES=%q: want a positive number", s)
		}
		rounds = n
	}
	// A cluster name of its own: a node of another test (process) that
	// redials a port this test's nodes reuse is refused, not joined.
	cluster := "departures-" + rand.Text()[:8]
	type leave struct {
		id  string
		why mesh.LeaveReason
	}
	joined := make(chan string, 16)
	left := make(chan leave, 16)
	var logs syncbuf.Buffer
	logger := func(b *syncbuf.Buffer) *slog.Logger {
		return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := mesh.Start(options.Options{
		Name: "a", Cluster: cluster, Logger: logger(&logs),
		Hooks: options.Hooks{
			PeerJoined: func(p mesh.Peer) { joined <- p.ID },
			PeerLeft:   func(p mesh.Peer, why mesh.LeaveReason) { left <- leave{p.ID, why} },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	for i := range rounds {
		var blogs syncbuf.Buffer
		mark := len(logs.String())
		b, err := mesh.Start(options.Options{
			Name: fmt.Sprintf("b%d", i), Cluster: cluster, Seed: a.ClusterURL(), Logger: logger(&blogs),
			LameDuckDuration: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(10 * time.Second)
	join:
		for {
			select {
			case id := <-joined:
				if id == b.ID() {
					break join
				}
			case <-timeout:
				b.Shutdown()
				t.Fatalf("round %d: a's PeerJoined(b) not called within 10s\na's log:\n%s\nb's log:\n%s", i, logs.String()[mark:], blogs.String())
			}
		}
		how := "Shutdown"
		if i%4 == 3 {
			how = "Leave"
			if err := b.Leave(t.Context()); err != nil {
				t.Fatalf("round %d: Leave: %v", i, err)
			}
		} else {
			b.Shutdown()
		}
		timeout = time.After(10 * time.Second)
	wait:
		for {
			select {
			case l := <-left:
				if l.id != b.ID() {
					continue
				}
				if l.why != mesh.Left {
					t.Errorf("round %d: after %s, a reported b %v, want %v\na's log:\n%s\nb's log:\n%s",
						i, how, l.why, mesh.Left, logs.String()[mark:], blogs.String())
				}
				break wait
			case <-timeout:
				t.Fatalf("round %d: a's PeerLeft(b) not called within 10s", i)
			}
		}
	}
}

// TestSharedClientURL: peers behind one advertised client address (a load
// balancer) change the cluster's client URLs only with the first and the
// last of them, so nats-server sends no async INFO for the others; their
// joins and leaves are still reported, on the route log lines alone.
func TestSharedClientURL(t *testing.T) {
	t.Parallel()
	cluster := "shared-" + rand.Text()[:8]
	type event struct {
		name string
		join bool
	}
	events := make(chan event, 16)
	quiet := slog.New(slog.DiscardHandler)
	a, err := mesh.Start(options.Options{
		Name: "a", Cluster: cluster, Logger: quiet,
		Hooks: options.Hooks{
			PeerJoined: func(p mesh.Peer) { events <- event{p.Name, true} },
			PeerLeft:   func(p mesh.Peer, _ mesh.LeaveReason) { events <- event{p.Name, false} },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	await := func(want event) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case e := <-events:
				if e == want {
					return
				}
			case <-timeout:
				t.Fatalf("a did not report %+v within 10s", want)
			}
		}
	}
	var peers []*mesh.Node
	for _, name := range []string{"b", "c", "d"} {
		n, err := mesh.Start(options.Options{
			Name: name, Cluster: cluster, Seed: a.ClusterURL(), Logger: quiet,
			ClientAdvertise: "127.0.0.1:4222",
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		await(event{name, true})
		peers = append(peers, n)
	}
	for _, n := range peers[1:] {
		n.Shutdown()
		await(event{n.Name(), false})
	}
}
