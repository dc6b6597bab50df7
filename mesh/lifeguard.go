package mesh

import (
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A route is dropped (and its peer reported Lost) when MaxPingsOut pings
// in a row go unanswered. A PING and its PONG travel in line with the
// route's messages, so on a busy node they can queue behind megabytes of
// them: on a saturated route, or on a host too starved to read its
// sockets, a healthy peer's PONG arrives seconds late, and nats-server
// would drop the route. The lifeguard (after memberlist's Lifeguard, which
// widens its own timeouts while the local node is unhealthy) watches for
// that: a route with much unsent data, a route receiving a flood, or this
// node's own timer firing late. While it sees any of them it multiplies
// the tolerated MaxPingsOut (2, 4, then 8 times), through nats-server's
// configuration reload; once the node has been quiet for a while it
// narrows it again, a step at a time. On an idle node nothing changes: a
// silent peer is dropped after MaxPingsOut pings, as configured.
const (
	lifeguardTick     = 200 * time.Millisecond
	lifeguardLate     = 250 * time.Millisecond // a tick this late: the host is starved
	lifeguardPending  = 512 << 10              // unsent bytes on one route
	lifeguardInflow   = 1 << 20                // bytes received on one route in one tick
	lifeguardMaxScale = 8
	// lifeguardCalm is how long the node must be quiet before the
	// tolerance is halved.
	lifeguardCalm = 2 * time.Second
)

// lifeguard adapts the route ping tolerance to how busy the node is.
type lifeguard struct {
	n      *Node
	base   int // the configured MaxPingsOut
	stopCh chan struct{}
	done   chan struct{}

	// Owned by the run goroutine.
	scale    int
	lastBusy time.Time
	inBytes  map[uint64]int64 // route ID -> bytes received, at the last tick
}

func startLifeguard(n *Node) *lifeguard {
	g := &lifeguard{n: n, base: n.opts.MaxPingsOut, scale: 1,
		stopCh: make(chan struct{}), done: make(chan struct{}), inBytes: map[uint64]int64{}}
	go g.run()
	return g
}

func (g *lifeguard) stop() {
	close(g.stopCh)
	<-g.done
}

func (g *lifeguard) run() {
	defer close(g.done)
	t := time.NewTicker(lifeguardTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-g.stopCh:
			return
		case now := <-t.C:
			late := time.Since(last) - lifeguardTick
			last = time.Now()
			why := g.busy(late > lifeguardLate)
			g.adjust(why, now)
		}
	}
}

// busy returns why the node is busy now, or "".
func (g *lifeguard) busy(late bool) string {
	rz, err := g.n.srv.Routez(nil)
	if err != nil {
		return ""
	}
	why := ""
	seen := make(map[uint64]int64, len(rz.Routes))
	for _, r := range rz.Routes {
		seen[r.Rid] = r.InBytes
		switch {
		case why != "":
		case r.Pending >= lifeguardPending:
			why = "unsent data queued on the route to " + r.RemoteName
		case r.InBytes-g.inBytes[r.Rid] >= lifeguardInflow && g.inBytes[r.Rid] > 0:
			why = "a flood of data arriving on the route from " + r.RemoteName
		}
	}
	g.inBytes = seen
	if why == "" && late {
		why = "the node's timers fire late (the host is starved of CPU)"
	}
	return why
}

// adjust widens the tolerance at once while the node is busy and narrows
// it a step after each calm period.
func (g *lifeguard) adjust(why string, now time.Time) {
	scale := g.scale
	switch {
	case why != "":
		g.lastBusy = now
		scale = min(scale*2, lifeguardMaxScale)
	case scale > 1 && now.Sub(g.lastBusy) >= lifeguardCalm:
		g.lastBusy = now // the next step after another calm period
		scale /= 2
	}
	if scale == g.scale {
		return
	}
	pings := g.base * scale
	_, err := g.n.joiner.reload(func(o *server.Options) bool {
		o.MaxPingsOut = pings // the routes' (see serverOptions)
		return true
	})
	if err != nil {
		if !g.n.stopping() {
			g.n.log.log.Warn("natsmesh: cannot change the route ping tolerance", "err", err)
		}
		return
	}
	if scale > g.scale {
		g.n.log.log.Info("natsmesh: node busy, tolerating more unanswered route pings", "max_pings_out", pings, "why", why)
	} else {
		g.n.log.log.Info("natsmesh: node calm again, tolerating fewer unanswered route pings", "max_pings_out", pings)
	}
	g.scale = scale
}
