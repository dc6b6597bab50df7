package mesh_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// allHooks sets every hook to a no-op and turns traffic samples on: the
// most the library does alongside the data path.
func allHooks(_ int, o *options.Options) {
	o.TrafficInterval = 100 * time.Millisecond
	o.Hooks = options.Hooks{
		PeerJoined:         func(mesh.Peer) {},
		PeerLeft:           func(mesh.Peer, mesh.LeaveReason) {},
		ClientConnected:    func(mesh.Client) {},
		ClientDisconnected: func(mesh.Client) {},
		SlowConsumer:       func(mesh.Client) {},
		AuthFailed:         func(mesh.Client) {},
		RouteError:         func(mesh.RouteError) {},
		Traffic:            func(mesh.Traffic) {},
	}
}

// crossPath is a publisher on one node and a subscriber on another, both
// over TCP, in one mesh.
type crossPath struct {
	pub, sub *nats.Conn
	got      atomic.Int64
}

func newCrossPath(b *testing.B, opts ...meshtest.Option) *crossPath {
	b.Helper()
	c := meshtest.Start(b, 2, opts...)
	p := &crossPath{}
	var err error
	if p.sub, err = nats.Connect(c.Nodes[1].ClientURL()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.sub.Close)
	s, err := p.sub.Subscribe("bench.cross", func(*nats.Msg) { p.got.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	_ = s.SetPendingLimits(-1, -1)
	if err := p.sub.Flush(); err != nil {
		b.Fatal(err)
	}
	if p.pub, err = nats.Connect(c.Nodes[0].ClientURL()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.pub.Close)
	deadline := time.Now().Add(benchWait)
	for c.Nodes[0].Server().GlobalAccount().Interest("bench.cross") == 0 {
		if time.Now().After(deadline) {
			b.Fatal("subscription never reached the publisher's node")
		}
		time.Sleep(100 * time.Microsecond)
	}
	return p
}

// run publishes n messages and returns how long until all arrived.
func (p *crossPath) run(b *testing.B, n int, payload []byte) time.Duration {
	b.Helper()
	p.got.Store(0)
	start := time.Now()
	for range n {
		if err := p.pub.Publish("bench.cross", payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.pub.Flush(); err != nil {
		b.Fatal(err)
	}
	deadline := start.Add(benchWait)
	for p.got.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d messages arrived", p.got.Load(), n)
		}
		time.Sleep(50 * time.Microsecond)
	}
	return time.Since(start)
}

// BenchmarkThroughputHooks measures cross-node publish/subscribe
// throughput (publisher on one node, subscriber on another, both TCP) with
// every hook on (and traffic samples every 100 ms) against the same with
// no hooks, in the same run: two meshes, batches alternating between them.
// Reported: "hooks-on-msgs/s", "hooks-off-msgs/s" and "on/off" (target:
// at least 0.95).
func BenchmarkThroughputHooks(b *testing.B) {
	for _, size := range []int{128, 16 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			batch := 20000
			if size > 1024 {
				batch = 2000
			}
			on := newCrossPath(b, allHooks)
			off := newCrossPath(b)
			payload := make([]byte, size)
			on.run(b, batch, payload) // warm up both
			off.run(b, batch, payload)
			b.ResetTimer()
			var onDur, offDur time.Duration
			for i := range b.N {
				if i%2 == 0 {
					onDur += on.run(b, batch, payload)
					offDur += off.run(b, batch, payload)
				} else {
					offDur += off.run(b, batch, payload)
					onDur += on.run(b, batch, payload)
				}
			}
			msgs := float64(batch * b.N)
			b.ReportMetric(msgs/onDur.Seconds(), "hooks-on-msgs/s")
			b.ReportMetric(msgs/offDur.Seconds(), "hooks-off-msgs/s")
			b.ReportMetric(offDur.Seconds()/onDur.Seconds(), "on/off")
			b.SetBytes(int64(2 * batch * size))
		})
	}
}
