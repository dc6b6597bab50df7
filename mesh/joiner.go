package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/discovery"
	"github.com/natsmesh/natsmesh/internal/address"
)

// Backoff of the joiner while the node has no peer and no route.
const (
	joinRetryMin = 100 * time.Millisecond
	joinRetryMax = 5 * time.Second
	// rememberMax bounds how many peers the peers file keeps.
	rememberMax = 64
)

// joiner keeps a node that has no peer and no route looking for one: it
// asks the seed provider again (with backoff) and hands nats-server the
// seeds it finds, the configured ones and the remembered ones (the peers
// file, and peers lost since the node started), as its routes, through
// nats-server's configuration reload. nats-server keeps dialling each
// route (and logs the failures). Once the node has a peer or a route,
// gossip does the rest; the joiner changes nothing then, since changing
// routes through a reload can close live ones, and nothing once the node
// is stopping.
type joiner struct {
	n      *Node
	base   []*url.URL // Seed and ExtraSeeds
	wake   chan struct{}
	stopCh chan struct{}
	done   chan struct{}

	mu         sync.Mutex
	remembered []string // cluster URLs of peers seen, most recent last
	// departed are the cluster URLs of peers that said goodbye: not
	// redialled when the node is alone (a peer back from a restart dials
	// its own seeds; its old port may by then be another server's), but
	// kept in the peers file. A peer that joins again is taken out.
	departed map[string]bool

	configured atomic.Bool // the last seeds() had configured or discovered seeds

	reloadMu sync.Mutex
	sopts    *server.Options // the server's current options (see reload)
}

// discover asks the seed provider for seeds. It returns after at most
// DiscoverTimeout, or when stop is closed, even if the provider ignores
// its context: the call is then abandoned (its goroutine ends whenever the
// provider returns) and its answer dropped.
func (n *Node) discover(stop <-chan struct{}) []*url.URL {
	p := n.opts.SeedProvider
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.DiscoverTimeout)
	defer cancel()
	type answer struct {
		urls []*url.URL
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		urls, err := p.Discover(ctx)
		ch <- answer{urls, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-stop:
		return nil
	case <-ctx.Done():
		select {
		case a = <-ch:
		default:
			a.err = fmt.Errorf("no answer within DiscoverTimeout (%s); call abandoned: %w", n.opts.DiscoverTimeout, ctx.Err())
		}
	}
	if a.err != nil {
		n.log.log.Warn("natsmesh: seed discovery failed", "provider", providerName(p), "err", a.err)
	}
	return a.urls
}

// providerName describes a provider by its String method, or else by its
// type: printing its fields could race with a call still running.
func providerName(p discovery.Provider) string {
	if s, ok := p.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", p)
}

// newJoiner makes a node's joiner, remembering the peers in its peers file.
// Its sopts are set once the server options are made from its seeds.
func newJoiner(n *Node) *joiner {
	j := &joiner{
		n: n, base: n.opts.Seeds,
		wake: make(chan struct{}, 1), stopCh: make(chan struct{}), done: make(chan struct{}),
	}
	if n.opts.PeersFile == "" {
		return j
	}
	urls, err := (&discovery.File{Path: n.opts.PeersFile}).Discover(context.Background())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.log.Warn("natsmesh: cannot read the peers file", "path", n.opts.PeersFile, "err", err)
	}
	for _, u := range urls {
		j.remembered = append(j.remembered, u.String())
	}
	return j
}

// seeds returns every seed the node knows now: configured, discovered
// (bounded by DiscoverTimeout; a failure is logged, not fatal) and
// remembered. The log learns the configured and discovered ones: failing
// to reach those is an error for the user, failing to reach a remembered
// peer, which may be gone for good, is not.
func (j *joiner) seeds() []*url.URL {
	seeds := slices.Clone(j.base)
	// n.closed, not stopCh: stopRuntime closes it first, and a stopping
	// node has no use for the answer.
	seeds = append(seeds, j.n.discover(j.n.closed)...)
	j.n.log.setSeeds(seeds)
	j.configured.Store(len(seeds) > 0)
	seeds = append(seeds, j.rememberedURLs()...)
	return dedupURLs(seeds)
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
		case <-j.n.closed:
			// The node is stopping: its peers going now is no news, and
			// a reload or a warning would only slow its stop down.
			return
		case <-j.wake:
		case <-time.After(wait):
		}
		if j.n.stopping() { // its server stopped under it: the same
			return
		}
		if !j.alone() {
			alone, warned, wait = time.Time{}, 0, joinRetryMax
			continue
		}
		if alone.IsZero() {
			alone = time.Now()
		}
		seeds := j.seeds()
		if j.n.stopping() { // it started stopping while the provider answered
			return
		}
		if len(seeds) > 0 {
			j.setRoutes(seeds)
		}
		// Say so in the log at 1 s, 2 s, 4 s ... of loneliness: a warning
		// if the user gave seeds (or a provider found some), news if the
		// node only tries peers it remembers, which may be gone for good.
		if since := time.Since(alone); len(seeds) > 0 && since >= max(time.Second, 2*warned) {
			warned = since
			level := slog.LevelInfo
			if j.configured.Load() {
				level = slog.LevelWarn
			}
			j.n.log.log.Log(context.Background(), level, "natsmesh: no peer has answered yet; still trying the seeds",
				"for", since.Round(time.Millisecond), "seeds", redactAll(seeds))
		}
		wait = min(max(wait*2, joinRetryMin), joinRetryMax)
	}
}

// alone tells whether the node has neither a peer nor a route. A route
// is enough: gossip through it brings the rest of the mesh, and a peer
// whose route is up but who is not described yet (while a large mesh
// forms on a busy machine, that can take more than a second) has
// answered.
func (j *joiner) alone() bool {
	return len(j.n.Peers()) == 0 && j.n.srv.NumRoutes() == 0
}

// left is the tracker's news that a peer left: a lost peer is worth
// trying again should the node find itself alone, one that said goodbye
// is not.
func (j *joiner) left(p Peer, why LeaveReason) {
	if why == Lost {
		j.remember(p.ClusterURL)
	} else {
		j.mu.Lock()
		if j.departed == nil {
			j.departed = map[string]bool{}
		}
		j.departed[p.ClusterURL] = true
		// Only remembered peers are redialled, so only they need the
		// mark: this keeps it as small as the remembered list. (A cap
		// instead left every peer past the 64th unmarked, redialled for
		// good however it had said goodbye.)
		for u := range j.departed {
			if !slices.Contains(j.remembered, u) {
				delete(j.departed, u)
			}
		}
		j.mu.Unlock()
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// setRoutes gives nats-server a new set of routes to solicit, through its
// configuration reload (the embedding API for changing routes).
// The options given are a copy of the server's current ones with only
// Routes changed; after the reload the server holds that copy.
func (j *joiner) setRoutes(seeds []*url.URL) {
	changed, err := j.reload(func(o *server.Options) bool {
		if sameURLs(seeds, o.Routes) {
			return false
		}
		o.Routes = seeds
		return true
	})
	if err != nil {
		j.n.log.log.Warn("natsmesh: cannot update the seeds", "err", err)
		return
	}
	if changed {
		j.n.log.log.Info("natsmesh: seeds updated", "seeds", redactAll(seeds))
	}
}

// reload applies change to a copy of the server's current options and, if
// change reports a change, reloads the server with it. It is the one way
// the node changes its server's options after Start (the joiner's routes,
// the lifeguard's ping tolerance), so no change undoes another.
func (j *joiner) reload(change func(*server.Options) bool) (bool, error) {
	j.reloadMu.Lock()
	defer j.reloadMu.Unlock()
	o := *j.sopts
	if !change(&o) {
		return false, nil
	}
	if err := j.n.srv.ReloadOptions(&o); err != nil {
		return false, err
	}
	j.sopts = &o
	return true, nil
}

// remember records a peer's route URL and rewrites the peers file.
func (j *joiner) remember(clusterURL string) {
	if clusterURL == "" {
		return
	}
	j.mu.Lock()
	delete(j.departed, clusterURL)
	j.remembered = slices.DeleteFunc(j.remembered, func(s string) bool { return s == clusterURL })
	j.remembered = append(j.remembered, clusterURL)
	if len(j.remembered) > rememberMax {
		j.remembered = j.remembered[len(j.remembered)-rememberMax:]
	}
	lines := slices.Clone(j.remembered)
	j.mu.Unlock()
	hostports := make([]string, 0, len(lines))
	for _, s := range lines {
		if u, err := url.Parse(s); err == nil {
			hostports = append(hostports, u.Host)
		}
	}
	j.n.log.setPeerRoutes(hostports)
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
		if j.departed[s] {
			continue
		}
		if u, err := address.ParseSeed(s); err == nil {
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
