package mesh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsmesh/natsmesh/internal/routetls"
)

// The describe protocol. Routes tell a node a peer's server ID; its name,
// route URL and client URLs it learns by asking the peer on
// describeSubject, in the system account (a stock nats-server, which does
// not answer there, through its VARZ instead). With a Secret, answers are
// signed with the answering node's route certificate and checked, so that
// no one without the secret can give a node's addresses. A request
// carries the asker's own signed description (a hello), so that two
// nodes that meet exchange one request, not two.

// learnedHello is a description a hello brought, and when.
type learnedHello struct {
	d  description
	at time.Time
}

// Of two nodes that meet, the one with the smaller server ID asks first;
// the other waits for its hello, an event, and asks itself only once it
// has seen the first one's responder for helloWait (a node that sends
// none, an older natsmesh, is then asked); meanwhile it wakes only to
// find that responder or a stock server's, and when either is due (see
// untilDue). helloWait is
// long because a late hello means a busy mesh: while 32 nodes form at once
// on 2 cores, a describe request and its reply take 100-500 ms, and when
// the other node gave up after a millisecond (as it once did), both nodes
// of two pairs in three asked, 830 requests where 496 do, in a formation
// bound by CPU. A hello no describe takes is forgotten after learnedTTL.
const (
	helloWait  = 250 * time.Millisecond
	learnedTTL = 10 * time.Second
)

// helloHeader carries, on a describe request, the asking node's own
// description, signed like a describe reply but over helloLabel instead of
// a nonce. The node asked learns the asker from it and need not ask back:
// two nodes that meet exchange one request and one reply, not two of
// each. A replayed hello is harmless: a server's description does not
// change while its ID lives, and IDs are new at every start. (Nodes that
// do not know the header ignore it, and answer the request as before.)
const helloHeader = "Natsmesh-Hello"

// helloLabel is what a hello's signature covers before the description:
// it is not describeNonceSize long, so no signature over a reply (a nonce
// then the description, a JSON object) is one over a hello, nor the
// reverse.
const helloLabel = "natsmesh hello v1:"

// maxLearned bounds the descriptions kept from hellos that no describe
// has taken yet.
const maxLearned = 1024

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
	hello := describeReply{Description: desc}
	if leaf != nil {
		hello.Cert = leaf.Cert.Raw
		hello.Sig = ed25519.Sign(leaf.Key, append([]byte(helloLabel), desc...))
	}
	helloJSON, err := json.Marshal(hello)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.hello, s.self = base64.RawURLEncoding.EncodeToString(helloJSON), d.ID
	s.mu.Unlock()
	sub, err := s.nc.Subscribe(describeSubject(d.ID), func(m *nats.Msg) {
		// Answer first: the asker waits for it.
		switch {
		case leaf == nil:
			_ = m.Respond(plain)
		case len(m.Data) == describeNonceSize:
			signed, err := json.Marshal(describeReply{
				Description: desc,
				Cert:        leaf.Cert.Raw,
				Sig:         ed25519.Sign(leaf.Key, append(m.Data[:len(m.Data):len(m.Data)], desc...)),
			})
			if err == nil {
				_ = m.Respond(signed)
			}
		default:
			return // not a describe request: nothing is signed for it
		}
		if h := m.Header.Get(helloHeader); h != "" {
			s.hear(h, d.ID)
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

// checkHello returns the description in a hello (see helloHeader) if,
// when authorities is set, it is signed over helloLabel by a route
// certificate that they sign and that names the server it describes (as
// checkDescription, handshaken included).
func checkHello(data []byte, authorities *x509.CertPool, handshaken func([]byte) *x509.Certificate) (description, error) {
	var r describeReply
	var d description
	if err := json.Unmarshal(data, &r); err != nil {
		return d, err
	}
	if err := json.Unmarshal(r.Description, &d); err != nil {
		return d, err
	}
	if d.ID == "" {
		return d, errors.New("the hello names no server")
	}
	// The checks of a reply about d.ID, with the label for a nonce.
	return checkDescription(data, d.ID, []byte(helloLabel), authorities, handshaken)
}

// hear records the description a describe request carried, unless it
// does not check out or describes this node.
func (s *sysConn) hear(header, self string) {
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return
	}
	d, err := checkHello(data, s.authorities, s.handshaken)
	if err != nil || d.ID == self {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.learned {
		if now.Sub(l.at) > learnedTTL {
			delete(s.learned, id)
		}
	}
	if len(s.learned) >= maxLearned {
		clear(s.learned)
	}
	s.learned[d.ID] = learnedHello{d, now}
	if ch, ok := s.awaiting[d.ID]; ok {
		close(ch)
		delete(s.awaiting, d.ID)
	}
}

// takeLearned returns (and forgets) the description of id a hello
// brought, if any, and a channel closed when the next hello of id comes.
func (s *sysConn) takeLearned(id string) (description, bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.learned[id]
	if ok {
		delete(s.learned, id)
	}
	wake, waited := s.awaiting[id]
	if !waited {
		wake = make(chan struct{})
		s.awaiting[id] = wake
	}
	return l.d, ok, wake
}

// forgetLearned forgets the description of id a hello brought, if any.
func (s *sysConn) forgetLearned(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.learned, id)
}

// stopAwaiting forgets the channel takeLearned made for id: its describe
// is over.
func (s *sysConn) stopAwaiting(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.awaiting, id)
}

// asksFirst tells whether this node asks peer id at once, rather than
// waiting for the peer's hello (see helloWait): it does if its server ID
// is the smaller, and for a peer it has described before. That peer's
// routes went and came back (server IDs are new at every start); if the
// peer did not notice, it has no one to describe and sends no hello.
func (s *sysConn) asksFirst(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, again := s.described[id]
	return s.hello == "" || s.self < id || again
}

// markDescribed records that peer id has been described; past maxLearned
// peers, the record starts afresh (a peer forgotten that way, should it
// be described again, is waited for helloWait).
func (s *sysConn) markDescribed(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.described) >= maxLearned {
		clear(s.described)
	}
	s.described[id] = struct{}{}
}

// forgetDescribed forgets peer id, which said goodbye: its server ID
// does not come back.
func (s *sysConn) forgetDescribed(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.described, id)
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
	s.describing.Add(1)
	defer s.describing.Add(-1)
	wait := 50 * time.Microsecond
	start := time.Now()
	var varzSince time.Time
	var last error
	found := func(d description) (string, []string, error) {
		s.forgetLearned(id) // one that came meanwhile is not needed
		s.markDescribed(id)
		for i, u := range d.ClientURLs {
			d.ClientURLs[i] = unwildcard(u, fallbackIP)
		}
		return unwildcard(d.ClusterURL, fallbackIP), d.ClientURLs, nil
	}
	defer s.stopAwaiting(id)
	// The node that does not ask first waits for the other's hello, an
	// event; it polls slowly, only to ask itself should the hello not
	// come (see helloWait) and to find a stock server.
	first := s.asksFirst(id)
	var responderSince time.Time
	// Polled below: made once, not at every poll.
	descSubj, varzSubj := describeSubject(id), varzSubject(id)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		// The peer may have described itself already, asking this node.
		d, ok, heard := s.takeLearned(id)
		if ok {
			return found(d)
		}
		// A wildcard subscriber in the system account (an operator's
		// `nats sub '>'`) shows interest before the peer's responder
		// exists: ask again until a reply checks out.
		if responderSince.IsZero() && s.acc.Interest(descSubj) > 0 {
			responderSince = time.Now()
		}
		if !responderSince.IsZero() && (first || time.Since(responderSince) >= helloWait) {
			d, err := s.ask(ctx, id)
			if err == nil {
				return found(d)
			}
			last = err
		}
		if (responderSince.IsZero() || last != nil) && s.acc.Interest(varzSubj) > 0 {
			// nats-server's own subscriptions exist from its start; a
			// natsmesh node's responder comes a moment later. Only a peer
			// without one after stockGrace is a stock server (or one
			// whose responder, seen, did not answer: a wildcard
			// subscriber's interest, a peer gone).
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
		case <-timer.C:
		case <-heard:
		}
		if first {
			wait = describePoll(wait, time.Since(start), s.describing.Load())
		} else {
			wait = untilDue(wait, responderSince, varzSince, time.Now())
		}
		timer.Reset(wait)
	}
}

// Polls of describe for the peer's responder: the responder of a peer
// that is starting arrives within milliseconds of its route, and every
// poll step is latency added to PeerJoined, so the first describeFastFor
// poll at most every describeFastPoll (an interest lookup is a
// microsecond); then the steps grow to describeSlowPoll. While many
// describes wait at once (a large mesh forming: hundreds), the fast step
// grows in proportion to their number past describeFastPollers, so that
// together they poll no more than describeFastPollers would.
const (
	describeFastFor     = 50 * time.Millisecond
	describeFastPoll    = 250 * time.Microsecond
	describeFastPollers = 16
	describeSlowPoll    = 5 * time.Millisecond
)

// describePoll returns the poll step after wait, elapsed into describe,
// with active describes under way.
func describePoll(wait, elapsed time.Duration, active int64) time.Duration {
	if elapsed < describeFastFor {
		fast := describeFastPoll * time.Duration(max(active, describeFastPollers)) / describeFastPollers
		return min(wait*2, min(fast, describeSlowPoll))
	}
	return min(wait*2, describeSlowPoll)
}

// untilDue returns how long a describe that does not ask first sleeps
// after wait, at now: its hello wakes it (an event), so it needs to wake
// only when the peer's responder will have been there for helloWait, or
// a stock server's VARZ responder alone for stockGrace. Until either has
// been seen, it looks for them every describeSlowPoll, then at doubling
// steps up to describeIdlePoll; with only VARZ seen, at most every
// describeIdlePoll; once one is due, every describeSlowPoll.
// (Polling every describeSlowPoll throughout, these describes polled
// about 9,000 times in a 32-node formation, 2,700 this way; all describes
// took about a tenth of its CPU.)
func untilDue(wait time.Duration, responderSince, varzSince, now time.Time) time.Duration {
	switch {
	case !responderSince.IsZero():
		return max(responderSince.Add(helloWait).Sub(now), describeSlowPoll)
	case !varzSince.IsZero():
		// A natsmesh peer's responder may still come (it is subscribed
		// after its server starts): look for it meanwhile.
		return max(min(varzSince.Add(stockGrace).Sub(now), describeIdlePoll), describeSlowPoll)
	default:
		return min(max(2*wait, describeSlowPoll), describeIdlePoll)
	}
}

// describeIdlePoll is the longest step of a describe that does not ask
// first, while it has not seen the peer's responder.
const describeIdlePoll = 50 * time.Millisecond

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
	req := &nats.Msg{Subject: describeSubject(id), Reply: s.replyPrefix + token, Data: nonce}
	s.mu.Lock()
	if s.hello != "" {
		req.Header = nats.Header{helloHeader: []string{s.hello}}
	}
	s.mu.Unlock()
	if err := s.nc.PublishMsg(req); err != nil {
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
