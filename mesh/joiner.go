package mesh

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/discovery"
)

// Backoff of the joiner while the node has no peer.
const (
	joinRetryMin = 100 * time.Millisecond
	joinRetryMax = 5 * time.Second
	// rememberMax bounds how many peers the peers file keeps.
	rememberMax = 64
)

// joiner keeps a node's routes complete. While the node has no peer it
// asks the seed provider again (with backoff) and hands nats-server the
// seeds it finds, the configured ones and the remembered ones, as its
// routes; nats-server keeps dialling each (and logs each failure). Once the
// node has peers, gossip does the rest, with one gap the joiner fills: a
// route to a peer learned by gossip is not redialled by nats-server after it
// breaks, so after a network cut two healthy nodes could stay apart for
// good. A peer reported Lost therefore becomes a seed (a route nats-server
// redials every second) until it is back, said goodbye, or lostSeedTTL
// passes.
type joiner struct {
	n      *Node
	base   []*url.URL // Seed and ExtraSeeds
	sopts  *server.Options
	wake   chan struct{}
	stopCh chan struct{}
	done   chan struct{}

	mu         sync.Mutex
	remembered []string             // cluster URLs of peers seen, most recent last
	lost       map[string]time.Time // cluster URL of a Lost peer -> when; zero: back
	goodbye    map[string]bool      // lost URLs whose peer then said goodbye
}

// lostSeedTTL bounds how long a lost peer is redialled.
const lostSeedTTL = 10 * time.Minute

// initialSeeds returns the seeds to start with: configured, discovered
// (bounded by DiscoverTimeout; a failure is logged, not fatal) and
// remembered.
func initialSeeds(n *Node) []*url.URL {
	seeds := slices.Clone(n.opts.Seeds)
	seeds = append(seeds, n.discover()...)
	seeds = append(seeds, readPeersFile(n)...)
	return dedupURLs(seeds)
}

func (n *Node) discover() []*url.URL {
	p := n.opts.SeedProvider
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.DiscoverTimeout)
	defer cancel()
	urls, err := p.Discover(ctx)
	if err != nil {
		n.log.log.Warn("natsmesh: seed discovery failed", "provider", fmt.Sprint(p), "err", err)
	}
	return urls
}

func readPeersFile(n *Node) []*url.URL {
	if n.opts.PeersFile == "" {
		return nil
	}
	urls, err := (&discovery.File{Path: n.opts.PeersFile}).Discover(context.Background())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.log.Warn("natsmesh: cannot read the peers file", "path", n.opts.PeersFile, "err", err)
	}
	return urls
}

func newJoiner(n *Node, sopts *server.Options) *joiner {
	j := &joiner{
		n: n, base: n.opts.Seeds, sopts: sopts,
		wake: make(chan struct{}, 1), stopCh: make(chan struct{}), done: make(chan struct{}),
		lost: map[string]time.Time{}, goodbye: map[string]bool{},
	}
	for _, u := range readPeersFile(n) {
		j.remembered = append(j.remembered, u.String())
	}
	return j
}

func (j *joiner) start() { go j.run() }

func (j *joiner) stop() {
	close(j.stopCh)
	<-j.done
}

func (j *joiner) run() {
	defer close(j.done)
	wait := joinRetryMin
	var alone time.Time
	warned := time.Duration(0)
	for {
		select {
		case <-j.stopCh:
			return
		case <-j.wake:
		case <-time.After(wait):
		}
		peers := j.n.Peers()
		if len(peers) > 0 {
			alone, warned, wait = time.Time{}, 0, joinRetryMax
			if want := j.connectedRoutes(peers); !sameURLs(want, j.sopts.Routes) {
				j.setRoutes(want, false)
			}
			continue
		}
		if alone.IsZero() {
			alone = time.Now()
		}
		seeds := slices.Clone(j.base)
		seeds = append(seeds, j.n.discover()...)
		seeds = append(seeds, j.rememberedURLs()...)
		seeds = dedupURLs(append(seeds, j.lostURLs()...))
		if len(seeds) > 0 && !sameURLs(seeds, j.sopts.Routes) {
			j.setRoutes(seeds, true)
		}
		// Say so in the log at 1 s, 2 s, 4 s ... of loneliness.
		if since := time.Since(alone); len(seeds) > 0 && since >= max(time.Second, 2*warned) {
			warned = since
			j.n.log.log.Warn("natsmesh: no peer has answered yet; still trying the seeds",
				"for", since.Round(time.Millisecond), "seeds", redactAll(seeds))
		}
		wait = min(max(wait*2, joinRetryMin), joinRetryMax)
	}
}

// connectedRoutes is what the routes should be while the node has peers:
// what they are, plus lost peers to redial, less lost peers given up on
// (expired, or said goodbye) that no present peer uses. Nothing else is
// removed: removing a route closes its connection.
func (j *joiner) connectedRoutes(peers []Peer) []*url.URL {
	present := map[string]bool{}
	for _, p := range peers {
		present[p.ClusterURL] = true
	}
	drop := map[string]bool{}
	j.mu.Lock()
	for u, at := range j.lost {
		switch {
		case present[u]:
			j.lost[u] = time.Time{}
		case j.goodbye[u] || (!at.IsZero() && time.Since(at) > lostSeedTTL):
			drop[u] = true
			delete(j.lost, u)
			delete(j.goodbye, u)
		}
	}
	j.mu.Unlock()
	want := slices.Clone(j.sopts.Routes)
	want = append(want, j.base...)
	want = append(want, j.lostURLs()...)
	want = slices.DeleteFunc(dedupURLs(want), func(u *url.URL) bool { return drop[u.String()] })
	return want
}

// lostURLs returns the lost peers being redialled, and those back again.
func (j *joiner) lostURLs() []*url.URL {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*url.URL
	for s := range j.lost {
		if u, err := discovery.ParseSeed(s); err == nil {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b *url.URL) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// left is the tracker's news that a peer left: a lost one is redialled, a
// goodbye ends redialling it.
func (j *joiner) left(p Peer, why LeaveReason) {
	if p.ClusterURL == "" {
		return
	}
	j.mu.Lock()
	switch why {
	case Lost:
		j.lost[p.ClusterURL] = time.Now()
		delete(j.goodbye, p.ClusterURL)
	case Left:
		if _, ok := j.lost[p.ClusterURL]; ok {
			j.goodbye[p.ClusterURL] = true
		}
	}
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// setRoutes gives nats-server a new set of routes to solicit, through its
// configuration reload (the embedding API for changing routes).
// asSeeds: failures to dial them are logged as errors (for a lost peer's
// redials, information).
func (j *joiner) setRoutes(seeds []*url.URL, asSeeds bool) {
	o := *j.sopts
	o.Routes = seeds
	if err := j.n.srv.ReloadOptions(&o); err != nil {
		j.n.log.log.Warn("natsmesh: cannot update the seeds", "err", err)
		return
	}
	j.sopts.Routes = seeds
	if asSeeds {
		j.n.log.setSeeds(seeds)
	}
	j.n.log.log.Info("natsmesh: routes updated", "routes", redactAll(seeds))
}

// remember records a peer's route URL and rewrites the peers file.
func (j *joiner) remember(clusterURL string) {
	if clusterURL == "" {
		return
	}
	j.mu.Lock()
	if _, ok := j.lost[clusterURL]; ok {
		j.lost[clusterURL] = time.Time{} // back again
		delete(j.goodbye, clusterURL)
	}
	j.remembered = slices.DeleteFunc(j.remembered, func(s string) bool { return s == clusterURL })
	j.remembered = append(j.remembered, clusterURL)
	if len(j.remembered) > rememberMax {
		j.remembered = j.remembered[len(j.remembered)-rememberMax:]
	}
	lines := slices.Clone(j.remembered)
	j.mu.Unlock()
	if j.n.opts.PeersFile != "" {
		if err := writeAtomically(j.n.opts.PeersFile, "# peers seen by natsmesh node "+j.n.Name()+"\n"+strings.Join(lines, "\n")+"\n"); err != nil {
			j.n.log.log.Warn("natsmesh: cannot write the peers file", "path", j.n.opts.PeersFile, "err", err)
		}
	}
}

func (j *joiner) rememberedURLs() []*url.URL {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*url.URL
	for _, s := range j.remembered {
		if u, err := discovery.ParseSeed(s); err == nil {
			out = append(out, u)
		}
	}
	return out
}

func writeAtomically(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".peers-*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func dedupURLs(urls []*url.URL) []*url.URL {
	seen := map[string]bool{}
	var out []*url.URL
	for _, u := range urls {
		if u != nil && !seen[u.String()] {
			seen[u.String()] = true
			out = append(out, u)
		}
	}
	return out
}

func sameURLs(a, b []*url.URL) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[string]bool{}
	for _, u := range a {
		set[u.String()] = true
	}
	for _, u := range b {
		if !set[u.String()] {
			return false
		}
	}
	return true
}

func redactAll(urls []*url.URL) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u.Redacted()
	}
	return out
}
