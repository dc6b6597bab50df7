package mesh

import (
	"sort"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// sampler posts a Traffic event every interval: per peer, the route
// counters' growth since the last sample; for clients, the growth of the
// server's client counters. It reads counters nats-server keeps anyway, so
// it costs the data path nothing.
type sampler struct {
	srv      *server.Server
	internal func() peerCounters // the node's own connections' share
	interval time.Duration
	post     func(event)
	stopCh   chan struct{}
	done     chan struct{}

	lastAt      time.Time
	lastPeers   map[string]peerCounters
	lastClients peerCounters
}

type peerCounters struct{ to, from Counts }

func startSampler(srv *server.Server, internal func() peerCounters, interval time.Duration, post func(event)) *sampler {
	s := &sampler{
		srv: srv, internal: internal, interval: interval, post: post,
		stopCh: make(chan struct{}), done: make(chan struct{}),
	}
	s.lastAt = time.Now()
	s.lastClients, _ = s.clientCounters()
	s.lastPeers, _ = s.peerCounters()
	go s.run()
	return s
}

func (s *sampler) stop() {
	close(s.stopCh)
	<-s.done
}

func (s *sampler) run() {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopCh:
			return
		case <-tick.C:
			s.sample()
		}
	}
}

func (s *sampler) sample() {
	now := time.Now()
	clients, err := s.clientCounters()
	if err != nil {
		return
	}
	peers, names := s.peerCounters()
	t := Traffic{
		Start: s.lastAt, End: now,
		ToClients:   delta(s.lastClients.to, clients.to),
		FromClients: delta(s.lastClients.from, clients.from),
	}
	for id, cur := range peers {
		prev := s.lastPeers[id]
		t.Peers = append(t.Peers, PeerTraffic{
			Peer: Peer{ID: id, Name: names[id]},
			To:   growth(prev.to, cur.to),
			From: growth(prev.from, cur.from),
		})
	}
	sort.Slice(t.Peers, func(i, j int) bool { return t.Peers[i].Peer.Name < t.Peers[j].Peer.Name })
	s.lastAt, s.lastClients, s.lastPeers = now, clients, peers
	s.post(event{kind: evTraffic, traffic: t})
}

// growth is cur-prev; counters of a replaced route connection restart
// from zero, and then all of cur is new.
func growth(prev, cur Counts) Counts {
	if cur.Msgs < prev.Msgs || cur.Bytes < prev.Bytes {
		return cur
	}
	return Counts{Msgs: cur.Msgs - prev.Msgs, Bytes: cur.Bytes - prev.Bytes}
}

// delta is cur-prev for counters that only grow (but are read at slightly
// different moments), never below zero.
func delta(prev, cur Counts) Counts {
	return Counts{Msgs: max(0, cur.Msgs-prev.Msgs), Bytes: max(0, cur.Bytes-prev.Bytes)}
}

// clientCounters returns what the server sent to (to) and received from
// (from) its clients since it started, less its own connections' share.
func (s *sampler) clientCounters() (peerCounters, error) {
	v, err := s.srv.Varz(nil)
	if err != nil {
		return peerCounters{}, err
	}
	own := s.internal()
	return peerCounters{
		to:   Counts{Msgs: v.OutClientMsgs - own.to.Msgs, Bytes: v.OutClientBytes - own.to.Bytes},
		from: Counts{Msgs: v.InClientMsgs - own.from.Msgs, Bytes: v.InClientBytes - own.from.Bytes},
	}, nil
}

func (s *sampler) peerCounters() (map[string]peerCounters, map[string]string) {
	out, names := map[string]peerCounters{}, map[string]string{}
	rz, err := s.srv.Routez(nil)
	if err != nil {
		return out, names
	}
	for _, r := range rz.Routes {
		if r.RemoteID == "" {
			continue
		}
		c := out[r.RemoteID]
		c.to.Msgs += r.OutMsgs
		c.to.Bytes += r.OutBytes
		c.from.Msgs += r.InMsgs
		c.from.Bytes += r.InBytes
		out[r.RemoteID] = c
		names[r.RemoteID] = r.RemoteName
	}
	return out, names
}
