package meshbench

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ResumeReconnectWait is the subscriber's nats.ReconnectWait in Resume:
// short, as an application that cares about fail-over sets it. Reconnect
// jitter is off.
const ResumeReconnectWait = 10 * time.Millisecond

// resumePublishEvery is the publisher's pace in Resume, and so the
// resolution of the figure.
const resumePublishEvery = 100 * time.Microsecond

// Resume measures how long a subscriber goes without messages when the
// node it is connected to shuts down. In a 3-node cluster of the given kind
// (Mesh or Raw), a publisher connected over TCP to node 0 publishes
// continuously (one message every 100 µs); a subscriber connected over TCP
// to node 1 (with ReconnectWait 10 ms, no jitter, and the other nodes'
// client URLs learned from node 1) receives them. Node 1 is shut down
// (Node.Shutdown for the mesh, Server.Shutdown for raw). The result is the
// time from that call to the first message the subscriber receives after
// it has reconnected to another node and its interest has reached node 0.
func Resume(kind Kind) (time.Duration, error) {
	c, err := Start(kind, 3)
	if err != nil {
		return 0, err
	}
	defer c.Close()

	var (
		received  atomic.Int64
		resumedAt atomic.Int64 // UnixNano of the first message after a reconnect
		resumed   = make(chan struct{})
		once      sync.Once
	)
	sub, err := nats.Connect(c.ClientURL(1),
		nats.Name("bench-resume-sub"),
		nats.ReconnectWait(ResumeReconnectWait),
		nats.ReconnectJitter(0, 0),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		return 0, fmt.Errorf("meshbench: subscriber: %w", err)
	}
	defer sub.Close()
	_, err = sub.Subscribe("bench.resume", func(*nats.Msg) {
		received.Add(1)
		// nats.go counts the reconnect before it resends the
		// subscriptions, so a message that came through the new
		// connection always sees it.
		if sub.Stats().Reconnects > 0 {
			once.Do(func() {
				resumedAt.Store(time.Now().UnixNano())
				close(resumed)
			})
		}
	})
	if err == nil {
		err = sub.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("meshbench: subscribe: %w", err)
	}
	// The subscriber must know where else to go.
	deadline := time.Now().Add(Wait)
	for len(sub.Servers()) < 3 {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("meshbench: subscriber knows %v, not all 3 nodes, after %s", sub.Servers(), Wait)
		}
		time.Sleep(time.Millisecond)
	}

	pub, err := nats.Connect(c.ClientURL(0), nats.Name("bench-resume-pub"))
	if err != nil {
		return 0, fmt.Errorf("meshbench: publisher: %w", err)
	}
	defer pub.Close()
	if err := waitInterest(c.Servers[0], "bench.resume"); err != nil {
		return 0, err
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var buf [8]byte
		for seq := uint64(0); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			binary.BigEndian.PutUint64(buf[:], seq)
			_ = pub.Publish("bench.resume", buf[:]) // errors: the figure shows them
			time.Sleep(resumePublishEvery)
		}
	}()
	defer func() { close(stop); <-stopped }()

	// Messages flow before the shutdown.
	deadline = time.Now().Add(Wait)
	for received.Load() < 10 {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("meshbench: no messages before the shutdown within %s", Wait)
		}
		time.Sleep(time.Millisecond)
	}

	shutdownAt := time.Now()
	c.ShutdownNode(1)
	select {
	case <-resumed:
		return time.Unix(0, resumedAt.Load()).Sub(shutdownAt), nil
	case <-time.After(Wait):
		return 0, fmt.Errorf("meshbench: %s: no message after the reconnect within %s (status %s)", kind, Wait, sub.Status())
	}
}
