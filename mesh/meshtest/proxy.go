package meshtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is what a Proxy does with the bytes and connections it carries.
type Mode int

const (
	// Pass forwards bytes both ways as they arrive.
	Pass Mode = iota
	// Delay forwards bytes both ways, each chunk a fixed time after it
	// was read (latency, not a bandwidth limit); order is kept.
	Delay
	// Drop closes every connection and stops listening, so new
	// connections are refused: the peer is gone, and its sockets say so.
	// Leaving Drop listens on the same port again.
	Drop
	// Blackhole keeps every socket open but silently discards bytes both
	// ways, and does not pass a close from one side on to the other: the
	// peer went silent, as a frozen process does. New connections are
	// accepted (as a frozen process's kernel would) and then get the same
	// treatment; the target is not dialed.
	Blackhole
	// Cut is a network partition: open connections are silent as in
	// Blackhole, and new connections fail (they are refused, where a real
	// cut would make them time out: either way the dial fails). Leaving
	// Cut listens on the same port again.
	Cut
)

// silent reports whether m discards bytes and hides closes.
func (m Mode) silent() bool { return m == Blackhole || m == Cut }

// refuses reports whether m stops listening.
func (m Mode) refuses() bool { return m == Drop || m == Cut }

// String returns "pass", "delay", "drop", "blackhole" or "cut".
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Delay:
		return "delay"
	case Drop:
		return "drop"
	case Blackhole:
		return "blackhole"
	case Cut:
		return "cut"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// proxyDialTimeout bounds the proxy's dial of its target.
const proxyDialTimeout = 2 * time.Second

// proxyQueue is how many chunks a direction may hold in Delay mode before
// its reader waits for its writer.
const proxyQueue = 256

// Proxy is a fault-injecting TCP proxy for tests: it listens on a
// loopback port and forwards every connection it accepts to a target
// address, passing, delaying, dropping or blackholing the traffic as its
// Mode says. The mode can be switched at any time, from any goroutine.
//
// Put a Proxy in front of a node's route listener and make the node
// advertise Addr as its route address (options.Options.ClusterAdvertise,
// which nats-server must receive as Cluster.Advertise): gossip then tells
// every peer to dial the proxy, so every route dialed to that node crosses
// it. Routes the node dials itself cross its peers' proxies, if any.
//
// Leaving Blackhole or Cut for Pass or Delay closes the connections that
// lost bytes: their byte streams have holes, as a TCP connection that
// lived through a long cut would be reset, and both ends must reconnect.
//
// In Drop and Cut the proxy stops listening; leaving them, it listens on
// the same port again. Should another socket have taken the port in the
// meantime (an outgoing connection's ephemeral port, rarely), it keeps
// trying every few milliseconds until it gets it back or is closed.
//
// All methods are safe for concurrent use.
type Proxy struct {
	addr   string          // fixed for the proxy's life
	ctx    context.Context // canceled by Close: aborts dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the proxy

	forwarded atomic.Int64
	accepted  atomic.Int64

	mu     sync.Mutex
	ln     net.Listener // nil while refusing (or re-listening)
	target string
	mode   Mode
	delay  time.Duration
	links  map[*link]struct{}
	closed bool
}

// NewProxy starts a proxy on 127.0.0.1 (a free port) in Pass mode,
// forwarding to target ("host:port" or "nats://host:port"). target may be
// "" and set later with SetTarget; until then every connection is closed
// as soon as it is accepted.
// The proxy is closed by tb.Cleanup; NewProxy fails the test if it cannot
// listen.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := ListenProxy(target)
	if err != nil {
		tb.Fatalf("meshtest.NewProxy: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// ListenProxy is NewProxy for code without a testing.TB (a main program,
// a benchmark harness, a TestMain): it returns the proxy, listening, or
// the error that kept it from listening. The caller must Close the proxy.
func ListenProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("natsmesh: meshtest: proxy listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{addr: ln.Addr().String(), ln: ln, ctx: ctx, cancel: cancel,
		target: trimScheme(target), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop(ln)
	return p, nil
}

func trimScheme(addr string) string {
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
	}
	return strings.TrimSuffix(addr, "/")
}

// Addr returns the address the proxy listens on, "127.0.0.1:port": what
// to advertise (options.Options.ClusterAdvertise) or dial.
func (p *Proxy) Addr() string { return p.addr }

// URL returns "nats://" + Addr, for a Seed or a client.
func (p *Proxy) URL() string { return "nats://" + p.Addr() }

// SetTarget changes the address new connections are forwarded to
// ("host:port" or "nats://host:port"); open connections are not affected.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = trimScheme(target)
	p.mu.Unlock()
}

// Target returns the address new connections are forwarded to.
func (p *Proxy) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// Pass switches to Pass mode.
func (p *Proxy) Pass() { p.setMode(Pass, 0) }

// Delay switches to Delay mode: bytes read from now on are forwarded d
// after they were read.
func (p *Proxy) Delay(d time.Duration) { p.setMode(Delay, d) }

// Drop switches to Drop mode: every open connection is closed, and new
// ones are refused.
func (p *Proxy) Drop() { p.setMode(Drop, 0) }

// Blackhole switches to Blackhole mode: from now on bytes are discarded
// both ways and no close is passed on; new connections are accepted and
// held.
func (p *Proxy) Blackhole() { p.setMode(Blackhole, 0) }

// Cut switches to Cut mode: open connections go silent as in Blackhole,
// new ones are refused.
func (p *Proxy) Cut() { p.setMode(Cut, 0) }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Forwarded returns how many bytes the proxy has delivered so far, both
// ways together: a way to check that traffic crosses it.
func (p *Proxy) Forwarded() int64 { return p.forwarded.Load() }

// Accepted returns how many connections the proxy has accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Conns returns how many connections are open through the proxy now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

func (p *Proxy) setMode(m Mode, d time.Duration) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var doomed []*link
	for l := range p.links {
		if m == Drop || (!m.silent() && l.tainted) {
			doomed = append(doomed, l)
		}
	}
	p.mode, p.delay = m, d
	var stop net.Listener
	switch {
	case m.refuses() && p.ln != nil:
		stop, p.ln = p.ln, nil
	case !m.refuses() && p.ln == nil:
		p.relisten()
	}
	p.mu.Unlock()
	if stop != nil {
		stop.Close()
	}
	for _, l := range doomed {
		l.close()
	}
}

// relisten listens on the proxy's port again, at once if it can, else
// from a goroutine that retries until it can, the mode refuses again, or
// the proxy is closed. Called with p.mu held.
func (p *Proxy) relisten() {
	try := func() bool {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return false
		}
		p.ln = ln
		p.wg.Add(1)
		go p.acceptLoop(ln)
		return true
	}
	if try() {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			p.mu.Lock()
			done := p.closed || p.mode.refuses() || p.ln != nil || try()
			p.mu.Unlock()
			if done {
				return
			}
		}
	}()
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end. Calling it again is safe.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()

	p.cancel()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (too many files): back off a
			// little, bounded by Close.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve connects an accepted connection to the target, as the mode says.
func (p *Proxy) serve(down net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	mode, target, closed := p.mode, p.target, p.closed
	p.mu.Unlock()
	if closed || mode.refuses() || (target == "" && mode != Blackhole) {
		// Accepted just before the listener closed, or nowhere to go.
		down.Close()
		return
	}

	var up net.Conn
	if mode != Blackhole {
		var d net.Dialer
		ctx, cancel := context.WithTimeout(p.ctx, proxyDialTimeout)
		var err error
		up, err = d.DialContext(ctx, "tcp", target)
		cancel()
		if err != nil {
			down.Close()
			return
		}
	}

	l := &link{p: p, down: down, up: up, done: make(chan struct{})}
	p.mu.Lock()
	switch {
	case p.closed || p.mode == Drop:
		// Closed or switched to Drop while dialing.
		p.mu.Unlock()
		l.closeConns()
		return
	case up == nil && !p.mode.silent():
		// Healed while the connection was held without a target: it
		// has no upstream, so it cannot carry anything.
		p.mu.Unlock()
		l.closeConns()
		return
	}
	if up == nil {
		l.tainted = true
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	if up == nil {
		p.wg.Add(1)
		go l.discard(down)
		return
	}
	for _, dir := range [][2]net.Conn{{down, up}, {up, down}} {
		q := make(chan chunk, proxyQueue)
		p.wg.Add(2)
		go l.read(dir[0], q)
		go l.write(dir[1], q)
	}
}

// link is one proxied connection: down is the accepted side, up the
// connection to the target (nil for a connection accepted in Blackhole
// mode).
type link struct {
	p        *Proxy
	down, up net.Conn
	done     chan struct{}
	once     sync.Once
	tainted  bool // guarded by p.mu: lost bytes in Blackhole mode
}

type chunk struct {
	b   []byte
	due time.Time
}

// close removes the link and closes both sockets; the link's goroutines
// then end.
func (l *link) close() {
	l.once.Do(func() {
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
		close(l.done)
		l.closeConns()
	})
}

func (l *link) closeConns() {
	l.down.Close()
	if l.up != nil {
		l.up.Close()
	}
}

// admit decides, under the proxy's lock, what becomes of bytes read (or
// about to be written) now: forward them after delay, or discard them
// (Blackhole and Cut, which taints the link).
func (l *link) admit() (forward bool, delay time.Duration) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	if l.p.mode.silent() {
		l.tainted = true
		return false, 0
	}
	if l.p.mode == Delay {
		return true, l.p.delay
	}
	return true, 0
}

// quiet reports whether a close seen on one side must not be passed on:
// in Blackhole and Cut modes, a close is as silent as everything else (and
// taints the link, so that leaving the mode closes it).
func (l *link) quiet() bool {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	if l.p.mode.silent() {
		l.tainted = true
		return true
	}
	return false
}

// read reads src into q until src fails, then closes q. The writer
// delivers what is queued before it ends the link, so that bytes sent
// just before a close (a goodbye) are not lost.
func (l *link) read(src net.Conn, q chan<- chunk) {
	defer l.p.wg.Done()
	defer close(q)
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			if ok, d := l.admit(); ok {
				select {
				case q <- chunk{b: buf[:n], due: time.Now().Add(d)}:
				case <-l.done:
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// write writes what read queued to dst, each chunk when due. When the
// reader's side has closed (q is closed and drained), it ends the link,
// unless the proxy is silent (Blackhole, Cut): a silent network passes no
// close on.
func (l *link) write(dst net.Conn, q <-chan chunk) {
	defer l.p.wg.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-l.done:
				return
			}
		}
		if ok, _ := l.admit(); !ok {
			continue
		}
		n, err := dst.Write(c.b)
		l.p.forwarded.Add(int64(n))
		if err != nil {
			if !l.quiet() {
				l.close()
			}
			// Keep draining q so the reader never blocks on it; the
			// link is closed by now, or will be by a heal or Close.
			for range q {
			}
			return
		}
	}
	if !l.quiet() {
		l.close()
	}
}

// discard reads and drops everything from a connection accepted in
// Blackhole mode, until the link is closed.
func (l *link) discard(c net.Conn) {
	defer l.p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
