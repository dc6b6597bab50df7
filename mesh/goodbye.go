package mesh

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// byeSubject is where a natsmesh node says goodbye, in the system account,
// before its server shuts down; its natsmesh peers answer once they have
// recorded it. nats-server's own goodbye ($SYS.SERVER.<id>.SHUTDOWN) is
// sent a moment before the routes close and can lose that race: a peer
// whose write on the route fails first (the socket is already closed)
// drops the route while the goodbye still waits to be read, and reports
// the node Lost. A confirmed goodbye cannot.
func byeSubject(id string) string { return "$SYS.NATSMESH." + id + ".BYE" }

// byeSubjects matches every node's byeSubject.
const byeSubjects = "$SYS.NATSMESH.*.BYE"

// recordGoodbye records a goodbye heard on the system connection (a
// server's SHUTDOWN or LAMEDUCK event, or a natsmesh BYE), if its body is
// the ServerInfo of the server it names, and confirms a BYE.
func (t *tracker) recordGoodbye(m *nats.Msg) {
	if id := goodbyeID(m.Subject); id != "" && id != t.srv.ID() && isGoodbyeOf(m.Data, id) {
		t.gmu.Lock()
		t.goodbyes[id] = time.Now()
		t.gmu.Unlock()
		t.parted(id)
		if m.Reply != "" && m.Subject == byeSubject(id) {
			// Recorded: the peer may close its routes now.
			_ = t.sys.nc.Publish(m.Reply, []byte(t.srv.ID()))
		}
	}
}

// parted tells a waiting farewell that peer id is leaving or gone: its
// confirmation is not worth waiting for (two nodes shutting down at once
// may each stop listening before the other's goodbye arrives).
func (t *tracker) parted(id string) {
	if ch := t.parting.Load(); ch != nil {
		select {
		case *ch <- id:
		default:
		}
	}
}

// farewell says goodbye to the natsmesh peers on byeSubject and waits,
// at most farewellTimeout, until each has confirmed it: then however the
// routes close, they report this node Left. Peers without a natsmesh
// responder (stock servers) do not answer and are not waited for; they
// hear nats-server's own goodbye. Safe from any goroutine, before stop.
func (t *tracker) farewell() {
	if t.ctx.Err() != nil || !t.srv.Running() {
		return
	}
	rz, err := t.srv.Routez(nil)
	if err != nil {
		return
	}
	self := t.srv.ID()
	waiting := map[string]bool{}
	for _, r := range rz.Routes {
		if r.RemoteID != "" && r.RemoteID != self && t.sys.acc.Interest(describeSubject(r.RemoteID)) > 0 {
			waiting[r.RemoteID] = true
		}
	}
	if len(waiting) == 0 {
		return
	}
	body, _ := json.Marshal(server.ServerInfo{ID: self, Name: t.srv.Name()})
	parting := make(chan string, len(waiting)+8)
	t.parting.Store(&parting)
	defer t.parting.Store(nil)
	t.gmu.Lock()
	for id := range t.goodbyes {
		delete(waiting, id) // leaving too
	}
	t.gmu.Unlock()
	if len(waiting) == 0 {
		return
	}
	token := rand.Text()
	acks := make(chan *nats.Msg, len(waiting)+8)
	t.sys.mu.Lock()
	t.sys.waiting[token] = acks
	t.sys.mu.Unlock()
	defer func() {
		t.sys.mu.Lock()
		delete(t.sys.waiting, token)
		t.sys.mu.Unlock()
	}()
	if err := t.sys.nc.PublishRequest(byeSubject(self), t.sys.replyPrefix+token, body); err != nil {
		return
	}
	timeout := time.NewTimer(farewellTimeout)
	defer timeout.Stop()
	for len(waiting) > 0 {
		select {
		case m := <-acks:
			delete(waiting, string(m.Data))
		case id := <-parting:
			delete(waiting, id)
		case <-timeout.C:
			t.log.Debug("natsmesh: peers did not confirm the goodbye in time", "peers", len(waiting))
			return
		}
	}
}

// isGoodbyeOf tells whether data is the body nats-server itself sends
// with a goodbye of server id: that server's ServerInfo. Anything else
// on a goodbye subject, such as the answers to a request whose reply
// subject an operator set to it, is no goodbye.
func isGoodbyeOf(data []byte, id string) bool {
	var si server.ServerInfo
	return json.Unmarshal(data, &si) == nil && si.ID == id
}

// drainGoodbyes records every goodbye already delivered.
func (t *tracker) drainGoodbyes() {
	for {
		select {
		case m := <-t.sys.goodbyes:
			t.recordGoodbye(m)
		default:
			return
		}
	}
}

// goodbyeID returns the server ID a goodbye subject names.
func goodbyeID(subject string) string {
	toks := strings.Split(subject, ".")
	if len(toks) < 4 {
		return ""
	}
	return toks[2]
}
