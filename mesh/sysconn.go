package mesh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/internal/routetls"
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
}

// dialSys connects the system connection and subscribes to describe
// replies and goodbyes; the caller flushes.
func dialSys(srv *server.Server, creds credentials) (*sysConn, error) {
	nc, err := nats.Connect("",
		nats.InProcessServer(srv),
		nats.Nkey(creds.pub, creds.sign),
		nats.Name(internalConnName),
		// Should the server ever drop this connection, it comes back
		// (in process, within a second) with its subscriptions.
		nats.MaxReconnects(100),
		nats.ReconnectWait(10*time.Millisecond),
		nats.IgnoreDiscoveredServers(),
	)
	if err != nil {
		return nil, fmt.Errorf("natsmesh: in-process system connection: %w", err)
	}
	s := &sysConn{acc: srv.SystemAccount(), nc: nc, goodbyes: make(chan *nats.Msg, 4096),
		replyPrefix: nc.NewInbox() + ".", waiting: map[string]chan *nats.Msg{}}
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

// goodbyeID returns the server ID a goodbye subject names.
func goodbyeID(subject string) string {
	toks := strings.Split(subject, ".")
	if len(toks) < 4 {
		return ""
	}
	return toks[2]
}

// sync returns once every message the server had queued for this
// connection has been delivered to the goodbyes channel: the server writes
// its PONG after them.
func (s *sysConn) sync(timeout time.Duration) error {
	return s.nc.FlushTimeout(timeout)
}

// describeSubject is where a natsmesh node answers, in the system
// account, with its name and addresses: cheaper than VARZ, which makes the
// server gather its whole state.
func describeSubject(id string) string { return "$SYS.NATSMESH." + id + ".DESCRIBE" }

// stockGrace is how long describe waits for a peer's natsmesh responder
// once it sees the peer's VARZ responder, before treating it as a stock
// nats-server.
const stockGrace = 250 * time.Millisecond

func varzSubject(id string) string { return "$SYS.REQ.SERVER." + id + ".VARZ" }

// description is a node's answer on describeSubject.
type description struct {
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	ClusterURL string   `json:"cluster_url"`
	ClientURLs []string `json:"client_urls"`
}

// describeReply is what a node answers on describeSubject: its
// description and, in a mesh sealed by a Secret, its route certificate
// (which names its server ID) and a signature with that certificate's key
// over the requester's nonce and the description. A reply is believed
// only if it describes the server asked about and, with a Secret, is
// signed by a certificate of an accepted authority naming that server: a
// peer cannot rewrite another node's addresses.
type describeReply struct {
	Description json.RawMessage `json:"description"`
	Cert        []byte          `json:"cert,omitempty"`
	Sig         []byte          `json:"sig,omitempty"`
}

// describeNonceSize is the size of the nonce a describe request carries.
const describeNonceSize = 16

// serveDescribe answers describe requests for this node; leaf, if not
// nil, signs the answers.
func (s *sysConn) serveDescribe(d description, leaf *routetls.Leaf) error {
	desc, err := json.Marshal(d)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(describeReply{Description: desc})
	if err != nil {
		return err
	}
	sub, err := s.nc.Subscribe(describeSubject(d.ID), func(m *nats.Msg) {
		if leaf == nil {
			_ = m.Respond(plain)
			return
		}
		if len(m.Data) != describeNonceSize {
			return // not a describe request: nothing is signed for it
		}
		signed, err := json.Marshal(describeReply{
			Description: desc,
			Cert:        leaf.Cert.Raw,
			Sig:         ed25519.Sign(leaf.Key, append(m.Data[:len(m.Data):len(m.Data)], desc...)),
		})
		if err == nil {
			_ = m.Respond(signed)
		}
	})
	if err != nil {
		return fmt.Errorf("natsmesh: subscribe %s: %w", describeSubject(d.ID), err)
	}
	s.subs = append(s.subs, sub)
	return nil // the caller flushes
}

// checkDescription returns the description in a describe reply if it is
// about server id and, when authorities is set, signed over nonce by a
// route certificate that they sign and that names id.
//
// handshaken, if not nil, returns the certificate of der if a route
// handshake of this node has verified it against authorities (a peer's
// certificate is the one it presents on its routes), sparing a second
// verification of its chain.
func checkDescription(data []byte, id string, nonce []byte, authorities *x509.CertPool, handshaken func([]byte) *x509.Certificate) (description, error) {
	var r describeReply
	var d description
	if err := json.Unmarshal(data, &r); err != nil {
		return d, err
	}
	if err := json.Unmarshal(r.Description, &d); err != nil {
		return d, err
	}
	if d.ID != id {
		return d, fmt.Errorf("the reply describes %s (%q), not the server asked about", d.ID, d.Name)
	}
	if authorities == nil {
		return d, nil
	}
	var cert *x509.Certificate
	var certID string
	if handshaken != nil {
		if cert = handshaken(r.Cert); cert != nil {
			certID = routetls.ServerID(cert)
		}
	}
	if cert == nil {
		var err error
		if cert, certID, err = routetls.VerifyLeaf(r.Cert, authorities); err != nil {
			return d, fmt.Errorf("the reply's certificate: %w", err)
		}
	}
	if certID != id {
		return d, fmt.Errorf("the reply is signed by the certificate of %q (%s), not of %s", cert.Subject.CommonName, certID, id)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !ed25519.Verify(pub, append(nonce[:len(nonce):len(nonce)], r.Description...), r.Sig) {
		return d, errors.New("the reply's signature does not verify")
	}
	return d, nil
}

// varzReply is the part of a $SYS.REQ.SERVER.<id>.VARZ reply we use.
type varzReply struct {
	Data struct {
		Host    string `json:"host"`
		Port    int    `json:"port"`
		Cluster struct {
			Host string `json:"addr"`
			Port int    `json:"cluster_port"`
		} `json:"cluster"`
	} `json:"data"`
	Error *struct {
		Description string `json:"description"`
	} `json:"error"`
}

// describe finds peer id's addresses. A natsmesh peer answers on
// describeSubject; a stock nats-server is asked for its VARZ, with
// fallbackIP (where its route comes from) standing in for a wildcard bind
// address. The peer's subscriptions reach this server over its route (a
// pooled peer's, over its system-account route); until they have, describe
// waits (bounded by ctx).
func (s *sysConn) describe(ctx context.Context, id, fallbackIP string) (clusterURL string, clientURLs []string, err error) {
	wait := 50 * time.Microsecond
	start := time.Now()
	var varzSince time.Time
	var last error
	for {
		// A wildcard subscriber in the system account (an operator's
		// `nats sub '>'`) shows interest before the peer's responder
		// exists: ask again until a reply checks out.
		if s.acc.Interest(describeSubject(id)) > 0 {
			d, err := s.ask(ctx, id)
			if err == nil {
				for i, u := range d.ClientURLs {
					d.ClientURLs[i] = unwildcard(u, fallbackIP)
				}
				return unwildcard(d.ClusterURL, fallbackIP), d.ClientURLs, nil
			}
			last = err
		}
		if s.acc.Interest(varzSubject(id)) > 0 {
			// nats-server's own subscriptions exist from its start; a
			// natsmesh node's responder comes a moment later. Only a peer
			// without one after stockGrace is a stock server.
			if varzSince.IsZero() {
				varzSince = time.Now()
			}
			if time.Since(varzSince) >= stockGrace {
				return s.varz(ctx, id, fallbackIP)
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return "", nil, fmt.Errorf("natsmesh: describe %s: %w (%w)", id, last, ctx.Err())
			}
			return "", nil, fmt.Errorf("natsmesh: %s: its system-account subscriptions did not arrive: %w", id, ctx.Err())
		case <-time.After(wait):
		}
		wait = describePoll(wait, time.Since(start))
	}
}

// Polls of describe for the peer's responder: the responder of a peer
// that is starting arrives within milliseconds of its route, and every
// poll step is latency added to PeerJoined, so the first describeFastFor
// poll at most every describeFastPoll (an interest lookup is a
// microsecond); then the steps grow to describeSlowPoll.
const (
	describeFastFor  = 50 * time.Millisecond
	describeFastPoll = 250 * time.Microsecond
	describeSlowPoll = 5 * time.Millisecond
)

// describePoll returns the poll step after wait, elapsed into describe.
func describePoll(wait, elapsed time.Duration) time.Duration {
	if elapsed < describeFastFor {
		return min(wait*2, describeFastPoll)
	}
	return min(wait*2, describeSlowPoll)
}

// reply hands a describe reply to the ask waiting for it; a reply nobody
// waits for (any more) is dropped.
func (s *sysConn) reply(m *nats.Msg) {
	token := strings.TrimPrefix(m.Subject, s.replyPrefix)
	s.mu.Lock()
	ch := s.waiting[token]
	s.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default: // a flood of replies: the first ones are enough
		}
	}
}

// askWindow bounds how long one describe request waits for a reply that
// checks out.
const askWindow = 500 * time.Millisecond

// errNoResponders is ask's error when nobody answered.
var errNoResponders = errors.New("no responders")

// ask sends one describe request and returns the first reply that checks
// out: a reply that does not (from a misbehaving peer) does not hide the
// real one behind it.
func (s *sysConn) ask(ctx context.Context, id string) (description, error) {
	ctx, cancel := context.WithTimeout(ctx, askWindow)
	defer cancel()
	nonce := make([]byte, describeNonceSize)
	_, _ = rand.Read(nonce)
	token := hex.EncodeToString(nonce)
	ch := make(chan *nats.Msg, 8)
	s.mu.Lock()
	s.waiting[token] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, token)
		s.mu.Unlock()
	}()
	if err := s.nc.PublishRequest(describeSubject(id), s.replyPrefix+token, nonce); err != nil {
		return description{}, err
	}
	var last error
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-ctx.Done():
			if last != nil {
				return description{}, fmt.Errorf("refused a reply: %w", last)
			}
			return description{}, ctx.Err()
		}
		if m.Header.Get("Status") == "503" {
			if last != nil {
				return description{}, fmt.Errorf("refused a reply: %w", last)
			}
			return description{}, errNoResponders
		}
		d, err := checkDescription(m.Data, id, nonce, s.authorities, s.handshaken)
		if err == nil {
			return d, nil
		}
		last = err
	}
}

func (s *sysConn) varz(ctx context.Context, id, fallbackIP string) (clusterURL string, clientURLs []string, err error) {
	msg, err := s.nc.RequestWithContext(ctx, varzSubject(id), nil)
	if err != nil {
		return "", nil, fmt.Errorf("natsmesh: VARZ request to %s: %w", id, err)
	}
	var r varzReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return "", nil, fmt.Errorf("natsmesh: VARZ reply from %s: %w", id, err)
	}
	if r.Error != nil {
		return "", nil, fmt.Errorf("natsmesh: VARZ reply from %s: %s", id, r.Error.Description)
	}
	if r.Data.Port > 0 {
		clientURLs = []string{natsURL(r.Data.Host, fallbackIP, r.Data.Port)}
	}
	if r.Data.Cluster.Port > 0 {
		clusterURL = natsURL(r.Data.Cluster.Host, fallbackIP, r.Data.Cluster.Port)
	}
	return clusterURL, clientURLs, nil
}

// unwildcard replaces a wildcard host in a nats:// URL with fallback.
func unwildcard(u, fallback string) string {
	h, p, err := net.SplitHostPort(strings.TrimPrefix(u, "nats://"))
	if err != nil {
		return u
	}
	port, _ := strconv.Atoi(p)
	return natsURL(h, fallback, port)
}

// natsURL builds nats://host:port, replacing a wildcard or empty host.
func natsURL(host, fallback string, port int) string {
	return "nats://" + net.JoinHostPort(concrete(host, fallback), strconv.Itoa(port))
}

// concrete returns host, or fallback if host is empty or a wildcard
// (0.0.0.0, ::), which nobody can dial.
func concrete(host, fallback string) string {
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fallback
	}
	return host
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
