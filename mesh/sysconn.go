package mesh

import (
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/natsmesh/natsmesh/internal/errprefix"
)

// sysConn is the node's in-process connection to the system account. It
// hears the goodbyes other servers broadcast ($SYS.SERVER.<id>.SHUTDOWN and
// .LAMEDUCK, sent by nats-server itself, so stock servers say goodbye too)
// and asks peers for their addresses.
type sysConn struct {
	acc         *server.Account // the system account, to look up interest
	authorities *x509.CertPool  // with a Secret: who may sign descriptions
	// With a Secret: the leaf certificates this node's route handshakes
	// have verified against authorities (nil: none known), which a
	// description's certificate need not be verified again against.
	handshaken func(der []byte) *x509.Certificate
	nc         *nats.Conn
	goodbyes   chan *nats.Msg
	subs       []*nats.Subscription

	// Describe replies arrive on replyPrefix+token, through one wildcard
	// subscription made at dial time: a subscription per request would
	// cross every route before its reply could (7 ms more to form a
	// 3-node mesh).
	replyPrefix string
	mu          sync.Mutex
	waiting     map[string]chan *nats.Msg

	// hello is this node's own description, signed as a hello (see
	// helloHeader), sent with every describe request it makes; learned
	// holds the descriptions other nodes sent with theirs, until describe
	// takes them, and awaiting the channels that the describes of nodes
	// whose hello has not come yet wait on.
	describing atomic.Int64 // describe calls under way (see describePoll)
	hello      string
	self       string // this node's server ID, once it serves describe
	learned    map[string]learnedHello
	awaiting   map[string]chan struct{}
	// described holds the peers this node has described (see asksFirst),
	// bounded by maxLearned.
	described map[string]struct{}
}

// goodbyeBuffer is how many goodbyes (two or three per departing peer:
// nats-server's shutdown and lame-duck broadcasts, natsmesh's own) wait for
// the tracker while it is busy, a second at most (goodbyeSync): some 300
// peers leaving at once. Every node allocates it at start; 4096 was a
// sixth of what a 3-node formation allocates beyond nats-server (96 of
// 600 KB).
const goodbyeBuffer = 1024

// dialSys connects the system connection through d and subscribes to
// describe replies and goodbyes; the caller flushes. d bounds the
// handshake (ConnectTimeout) and lets the node's Shutdown cut it short: a
// server that stops answering mid-handshake (lame duck) would otherwise
// hold nats.go on its pipe for its flusher timeout, a minute.
func dialSys(d *pipeDial, srv *server.Server, creds login) (*sysConn, error) {
	nc, err := d.connect(
		nats.UserInfo(creds.user, creds.pass),
		nats.Name(internalConnName),
		// Should the server ever drop this connection, it comes back
		// (in process, within a second) with its subscriptions.
		nats.MaxReconnects(100),
		nats.ReconnectWait(10*time.Millisecond),
		nats.IgnoreDiscoveredServers(),
	)
	if err != nil {
		return nil, fmt.Errorf("natsmesh: in-process system connection: %w", errprefix.Inner(err))
	}
	s := &sysConn{acc: srv.SystemAccount(), nc: nc, goodbyes: make(chan *nats.Msg, goodbyeBuffer),
		replyPrefix: nc.NewInbox() + ".", waiting: map[string]chan *nats.Msg{},
		learned: map[string]learnedHello{}, awaiting: map[string]chan struct{}{},
		described: map[string]struct{}{}}
	replies, err := nc.Subscribe(s.replyPrefix+"*", s.reply)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsmesh: subscribe to describe replies: %w", err)
	}
	s.subs = append(s.subs, replies)
	for _, subj := range []string{"$SYS.SERVER.*.SHUTDOWN", "$SYS.SERVER.*.LAMEDUCK"} {
		sub, err := nc.ChanSubscribe(subj, s.goodbyes)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("natsmesh: subscribe %s: %w", subj, err)
		}
		s.subs = append(s.subs, sub)
	}
	// The caller flushes once it has made its own subscriptions.
	return s, nil
}

// sync returns once every message the server had queued for this
// connection has been delivered to the goodbyes channel: the server writes
// its PONG after them.
func (s *sysConn) sync(timeout time.Duration) error {
	return s.nc.FlushTimeout(timeout)
}

func (s *sysConn) close() { s.nc.Close() }

// counters returns what the server sent to this connection (to) and
// received from it (from), so traffic samples can leave it out.
func (s *sysConn) counters() peerCounters {
	st := s.nc.Stats()
	return peerCounters{
		to:   Counts{Msgs: int64(st.InMsgs), Bytes: int64(st.InBytes)},
		from: Counts{Msgs: int64(st.OutMsgs), Bytes: int64(st.OutBytes)},
	}
}
