package meshtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// A peer that goes silent without closing its sockets is reported lost.
// Node b advertises a proxy as its route address and a seeds from it, so
// their route crosses the proxy; blackholing it silences b. (In a test,
// meshtest.NewProxy(t, target) closes the proxy with t.Cleanup.)
func ExampleProxy() {
	p, err := meshtest.ListenProxy("") // the target is known once b is up
	if err != nil {
		panic(err)
	}
	defer p.Close()

	const ping = 250 * time.Millisecond // a silent peer is noticed in 0.5-0.75 s
	b, err := mesh.Start(options.Options{Name: "b", ClusterAdvertise: p.Addr(), PingInterval: ping})
	if err != nil {
		panic(err)
	}
	defer b.Shutdown()
	p.SetTarget(b.Server().ClusterAddr().String())

	left := make(chan string, 1)
	a, err := mesh.Start(options.Options{Name: "a", Seed: p.URL(), PingInterval: ping,
		Hooks: options.Hooks{PeerLeft: func(p mesh.Peer, why mesh.LeaveReason) {
			select {
			case left <- p.Name + " " + why.String():
			default:
			}
		}},
	})
	if err != nil {
		panic(err)
	}
	defer a.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.WaitForPeers(ctx, 1); err != nil {
		panic(err)
	}

	p.Blackhole() // b goes silent; its sockets stay open
	select {
	case s := <-left:
		fmt.Println(s)
	case <-ctx.Done():
		fmt.Println("b still there")
	}
	// Output: b lost
}
