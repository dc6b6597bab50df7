package mesh

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/options"
)

// clientWatch turns nats-server's system-account client events into hook
// events: $SYS.ACCOUNT.<acc>.CONNECT and .DISCONNECT (which every server of
// the mesh publishes, so those of other servers are dropped here) and
// $SYS.SERVER.<id>.CLIENT.AUTH.ERR. All arrive on one channel, in the order
// the server sent them, and one goroutine posts them.
type clientWatch struct {
	srv          *server.Server
	internalUser string         // the user name of the node's own connections (see internal)
	ports        map[uint64]int // client ID -> its remote port, while connected
	serverID     string
	// serverIDBytes is serverID, to look for in advisories undecoded.
	serverIDBytes []byte
	post          func(event)
	ch            chan *nats.Msg
	subs          []*nats.Subscription
	stopCh        chan struct{}
	done          chan struct{}
}

func (s *sysConn) watchClients(srv *server.Server, internalUser string, connects, authErrors bool, post func(event)) (*clientWatch, error) {
	serverID := srv.ID()
	w := &clientWatch{srv: srv, internalUser: internalUser, ports: map[uint64]int{}, serverID: serverID, serverIDBytes: []byte(serverID), post: post, ch: make(chan *nats.Msg, 4096),
		stopCh: make(chan struct{}), done: make(chan struct{})}
	var subjects []string
	if connects {
		subjects = append(subjects, "$SYS.ACCOUNT.*.CONNECT", "$SYS.ACCOUNT.*.DISCONNECT")
	}
	if authErrors {
		subjects = append(subjects, "$SYS.SERVER."+serverID+".CLIENT.AUTH.ERR")
	}
	for _, subj := range subjects {
		sub, err := s.nc.ChanSubscribe(subj, w.ch)
		if err != nil {
			w.unsubscribe()
			return nil, fmt.Errorf("natsmesh: subscribe %s: %w", subj, err)
		}
		w.subs = append(w.subs, sub)
	}
	if err := s.nc.Flush(); err != nil {
		w.unsubscribe()
		return nil, fmt.Errorf("natsmesh: client events: %w", err)
	}
	go w.run()
	return w, nil
}

func (w *clientWatch) unsubscribe() {
	for _, sub := range w.subs {
		_ = sub.Unsubscribe()
	}
}

// stop ends the watch. The channel is never closed: the connection's
// read loop may still be delivering to it.
func (w *clientWatch) stop() {
	w.unsubscribe()
	close(w.stopCh)
	<-w.done
}

func (w *clientWatch) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stopCh:
			return
		case m := <-w.ch:
			w.handle(m)
		}
	}
}

func (w *clientWatch) handle(m *nats.Msg) {
	// Every node of the mesh publishes its clients' advisories to the
	// whole mesh: those of other servers are most of what arrives, and
	// cannot name this server's ID anywhere. Skipping them before
	// decoding spares the JSON decoder n-1 of every n under client churn;
	// those that do name it are decoded and checked below.
	if !bytes.Contains(m.Data, w.serverIDBytes) {
		return
	}
	switch {
	case strings.HasSuffix(m.Subject, ".CONNECT"):
		var ev server.ConnectEventMsg
		if json.Unmarshal(m.Data, &ev) != nil || ev.Server.ID != w.serverID || w.internal(ev.Client) {
			return
		}
		c := clientOf(ev.Client)
		c.Port = w.port(c.ID)
		w.ports[c.ID] = c.Port
		w.post(event{kind: evClientConnected, client: c})
	case strings.HasSuffix(m.Subject, ".DISCONNECT"), strings.HasSuffix(m.Subject, ".AUTH.ERR"):
		var ev server.DisconnectEventMsg
		if json.Unmarshal(m.Data, &ev) != nil || ev.Server.ID != w.serverID || w.internal(ev.Client) {
			return
		}
		c := clientOf(ev.Client)
		c.Port = w.ports[c.ID]
		delete(w.ports, c.ID)
		c.Reason = ev.Reason
		if c.DisconnectedAt.IsZero() {
			c.DisconnectedAt = ev.Time
		}
		// The event counts from the client's side: Sent is what the
		// client sent, so what the node received.
		c.MsgsIn, c.BytesIn = ev.Sent.Msgs, ev.Sent.Bytes
		c.MsgsOut, c.BytesOut = ev.Received.Msgs, ev.Received.Bytes
		switch {
		case strings.HasSuffix(m.Subject, ".AUTH.ERR"):
			w.post(event{kind: evAuthFailed, client: c})
		case ev.Reason == server.SlowConsumerPendingBytes.String(), ev.Reason == server.SlowConsumerWriteDeadline.String():
			w.post(event{kind: evSlowConsumer, client: c})
			w.post(event{kind: evClientDisconnected, client: c})
		default:
			w.post(event{kind: evClientDisconnected, client: c})
		}
	}
}

// port looks up a client's remote port (the advisory has only its IP); 0
// if it is gone already or connected in process.
func (w *clientWatch) port(id uint64) int {
	cz, err := w.srv.Connz(&server.ConnzOptions{CID: id})
	if err != nil || len(cz.Conns) == 0 {
		return 0
	}
	return cz.Conns[0].Port
}

// internal reports the library's own connections (see ownConnection).
func (w *clientWatch) internal(ci server.ClientInfo) bool {
	return ownConnection(ci.Account, ci.User, w.internalUser)
}

func clientOf(ci server.ClientInfo) Client {
	c := Client{
		ID: ci.ID, Name: ci.Name, Account: ci.Account, User: ci.User,
		Host: ci.Host, Lang: ci.Lang, Version: ci.Version,
	}
	if ci.Start != nil {
		c.ConnectedAt = *ci.Start
	}
	if ci.Stop != nil {
		c.DisconnectedAt = *ci.Stop
	}
	return c
}

// needsClientEvents tells whether a hook wants client connects and
// disconnects.
func needsClientEvents(h options.Hooks) bool {
	return h.ClientConnected != nil || h.ClientDisconnected != nil || h.SlowConsumer != nil
}
