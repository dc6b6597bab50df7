package meshtest_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natsmesh/natsmesh/mesh/meshtest"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// quiet is how long a test listens to conclude that nothing arrives.
const quiet = 150 * time.Millisecond

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer answers every line it reads with the same line. It records
// its connections so a test can close them from the server side.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.closeConns()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) closeConns() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.conns {
		c.Close()
	}
	e.conns = nil
}

// client is a line-based connection through the proxy.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

// roundTrip sends line and returns the reply, or the read error; it waits
// at most wait for the reply.
func (c *client) roundTrip(line string, wait time.Duration) (string, error) {
	_ = c.c.SetDeadline(time.Now().Add(wait))
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	got, err := c.r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// TestProxyModes: what an open connection and a new one see in each mode.
func TestProxyModes(t *testing.T) {
	type outcome int
	const (
		echo    outcome = iota // the round trip comes back
		silence                // nothing comes back, the connection stays open
		closed                 // the connection is closed
		refused                // (new connections) the dial fails
	)
	tests := []struct {
		name          string
		set           func(p *meshtest.Proxy)
		oldConn, next outcome
	}{
		{"pass", (*meshtest.Proxy).Pass, echo, echo},
		{"delay", func(p *meshtest.Proxy) { p.Delay(30 * time.Millisecond) }, echo, echo},
		{"drop", (*meshtest.Proxy).Drop, closed, refused},
		{"blackhole", (*meshtest.Proxy).Blackhole, silence, silence},
		{"cut", (*meshtest.Proxy).Cut, silence, refused},
	}
	check := func(t *testing.T, what string, c *client, want outcome) {
		t.Helper()
		wait := quiet
		if want == echo {
			wait = waitTimeout
		}
		got, err := c.roundTrip(what, wait)
		switch want {
		case echo:
			require.NoError(t, err, what)
			assert.Equal(t, what, got)
		case silence:
			assert.True(t, isTimeout(err), "%s: want silence, got %v", what, err)
		case closed:
			require.Error(t, err, what)
			assert.False(t, isTimeout(err), "%s: want the connection closed, got %v", what, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEcho(t)
			p := meshtest.NewProxy(t, e.addr())
			old := dial(t, p.Addr())
			check(t, "before", old, echo)

			tt.set(p)
			check(t, "old", old, tt.oldConn)
			if tt.next == refused {
				_, err := net.DialTimeout("tcp", p.Addr(), waitTimeout)
				assert.Error(t, err, "want the dial refused")
			} else {
				check(t, "new", dial(t, strings.TrimPrefix(p.URL(), "nats://")), tt.next)
			}

			// Back to Pass: the proxy listens (again) and new connections
			// go through.
			p.Pass()
			check(t, "after", dial(t, p.Addr()), echo)
		})
	}
}

// TestProxyDelay: a round trip through a delaying proxy takes at least
// twice the delay (once each way), and bytes keep their order.
func TestProxyDelay(t *testing.T) {
	e := newEcho(t)
	p := meshtest.NewProxy(t, e.addr())
	const d = 40 * time.Millisecond
	p.Delay(d)
	c := dial(t, p.Addr())
	for _, line := range []string{"one", "two", "three"} {
		start := time.Now()
		got, err := c.roundTrip(line, waitTimeout)
		require.NoError(t, err)
		assert.Equal(t, line, got)
		assert.GreaterOrEqual(t, time.Since(start), 2*d)
	}
	// Many writes in a row come back whole and in order.
	_ = c.c.SetDeadline(time.Now().Add(waitTimeout))
	var want strings.Builder
	for i := range 200 {
		line := strings.Repeat("x", i) + "\n"
		want.WriteString(line)
		_, err := c.c.Write([]byte(line))
		require.NoError(t, err)
	}
	got := make([]byte, want.Len())
	_, err := io.ReadFull(c.r, got)
	require.NoError(t, err)
	assert.Equal(t, want.String(), string(got))
}

// TestProxyHeal: leaving Blackhole or Cut closes the connections that
// lost bytes (both ends see the close) and new connections pass again; a
// connection that was idle through the fault is kept.
func TestProxyHeal(t *testing.T) {
	for _, heal := range []struct {
		name  string
		fault func(p *meshtest.Proxy)
		set   func(p *meshtest.Proxy)
	}{
		{"blackhole to pass", (*meshtest.Proxy).Blackhole, (*meshtest.Proxy).Pass},
		{"blackhole to delay", (*meshtest.Proxy).Blackhole, func(p *meshtest.Proxy) { p.Delay(time.Millisecond) }},
		{"cut to pass", (*meshtest.Proxy).Cut, (*meshtest.Proxy).Pass},
	} {
		t.Run(heal.name, func(t *testing.T) {
			e := newEcho(t)
			p := meshtest.NewProxy(t, e.addr())
			lossy, idle := dial(t, p.Addr()), dial(t, p.Addr())
			for _, c := range []*client{lossy, idle} {
				_, err := c.roundTrip("hi", waitTimeout)
				require.NoError(t, err)
			}
			require.Equal(t, 2, p.Conns())

			heal.fault(p)
			lost := map[string]*client{"lossy": lossy}
			if p.Mode() == meshtest.Blackhole {
				lost["held"] = dial(t, p.Addr()) // accepted while blackholed
			}
			for name, c := range lost {
				_, err := c.roundTrip(name, quiet)
				require.True(t, isTimeout(err), "%s: want silence, got %v", name, err)
			}

			heal.set(p)
			for name, c := range lost {
				_ = c.c.SetDeadline(time.Now().Add(waitTimeout))
				_, err := c.r.ReadString('\n')
				assert.Error(t, err, "%s: want closed", name)
				assert.False(t, isTimeout(err), "%s: want closed, got %v", name, err)
			}
			got, err := idle.roundTrip("still here", waitTimeout)
			require.NoError(t, err)
			assert.Equal(t, "still here", got)
			got, err = dial(t, p.Addr()).roundTrip("fresh", waitTimeout)
			require.NoError(t, err)
			assert.Equal(t, "fresh", got)
		})
	}
}

// TestProxyBlackholeHidesClose: in Blackhole mode a close on one side is
// not passed on to the other.
func TestProxyBlackholeHidesClose(t *testing.T) {
	e := newEcho(t)
	p := meshtest.NewProxy(t, e.addr())
	c := dial(t, p.Addr())
	_, err := c.roundTrip("hi", waitTimeout)
	require.NoError(t, err)
	p.Blackhole()
	e.closeConns()
	_ = c.c.SetReadDeadline(time.Now().Add(quiet))
	_, err = c.r.ReadByte()
	assert.True(t, isTimeout(err), "the close crossed a blackhole: %v", err)
	p.Pass()
	_ = c.c.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err = c.r.ReadByte()
	assert.Error(t, err)
	assert.False(t, isTimeout(err), "heal must close the connection, got %v", err)
}

// TestProxyDeliversBeforeClose: bytes the target writes just before it
// closes arrive before the close, also when delayed.
func TestProxyDeliversBeforeClose(t *testing.T) {
	for _, d := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(d.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(strings.Repeat("x", 100<<10) + "bye\n"))
				c.Close()
			}()
			p := meshtest.NewProxy(t, ln.Addr().String())
			if d > 0 {
				p.Delay(d)
			}
			c := dial(t, p.Addr())
			_ = c.c.SetReadDeadline(time.Now().Add(waitTimeout))
			got, err := io.ReadAll(c.r)
			require.NoError(t, err)
			assert.True(t, strings.HasSuffix(string(got), "bye\n"), "lost the tail: got %d bytes", len(got))
			<-done
		})
	}
}

// TestProxyTarget: with no target connections are refused; SetTarget
// points new connections elsewhere and leaves open ones alone.
func TestProxyTarget(t *testing.T) {
	e1, e2 := newEcho(t), newEcho(t)
	p := meshtest.NewProxy(t, "")
	_, err := dial(t, p.Addr()).roundTrip("nobody", waitTimeout)
	require.Error(t, err)
	assert.False(t, isTimeout(err), "want refused, got %v", err)

	p.SetTarget("nats://" + e1.addr())
	assert.Equal(t, e1.addr(), p.Target())
	first := dial(t, p.Addr())
	_, err = first.roundTrip("one", waitTimeout)
	require.NoError(t, err)
	p.SetTarget(e2.addr())
	_, err = dial(t, p.Addr()).roundTrip("two", waitTimeout)
	require.NoError(t, err)
	_, err = first.roundTrip("still one", waitTimeout)
	require.NoError(t, err)
	e1.mu.Lock()
	assert.Len(t, e1.conns, 1)
	e1.mu.Unlock()
	e2.mu.Lock()
	assert.Len(t, e2.conns, 1)
	e2.mu.Unlock()
	assert.EqualValues(t, 3, p.Accepted())
	assert.Positive(t, p.Forwarded())
}

// TestProxyClose: Close closes the listener and every connection, in any
// mode, and ends the proxy's goroutines (TestMain checks for leaks).
func TestProxyClose(t *testing.T) {
	for _, m := range []meshtest.Mode{meshtest.Pass, meshtest.Delay, meshtest.Drop, meshtest.Blackhole, meshtest.Cut} {
		t.Run(m.String(), func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, before) }) // runs after the other cleanups
			e := newEcho(t)
			p, err := meshtest.ListenProxy(e.addr())
			require.NoError(t, err)
			c := dial(t, p.Addr())
			_, err = c.roundTrip("hi", waitTimeout)
			require.NoError(t, err)
			switch m {
			case meshtest.Delay:
				p.Delay(time.Hour) // a chunk stuck in the queue must not hold Close up
				_, _ = c.c.Write([]byte("stuck\n"))
			case meshtest.Drop:
				p.Drop()
			case meshtest.Blackhole:
				p.Blackhole()
				dial(t, p.Addr())
			case meshtest.Cut:
				p.Cut()
			}
			assert.Equal(t, m, p.Mode())
			require.NoError(t, p.Close())
			require.NoError(t, p.Close(), "Close twice")
			_ = c.c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, err = c.r.ReadByte()
			assert.Error(t, err)
			assert.False(t, isTimeout(err), "Close must close connections, got %v", err)
			p.Pass() // no effect after Close: the proxy does not listen again
			_, err = net.DialTimeout("tcp", p.Addr(), waitTimeout)
			assert.Error(t, err, "still listening after Close")
			assert.Zero(t, p.Conns())
			e.closeConns()
		})
	}
}

// TestProxyConcurrentSwitching: modes switch while clients talk through
// the proxy (run with -race); afterwards Pass works again.
func TestProxyConcurrentSwitching(t *testing.T) {
	e := newEcho(t)
	p := meshtest.NewProxy(t, e.addr())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
				if err != nil {
					time.Sleep(time.Millisecond) // refused: Drop or Cut
					continue
				}
				cl := &client{c: c, r: bufio.NewReader(c)}
				for range 20 {
					if _, err := cl.roundTrip("x", 20*time.Millisecond); err != nil {
						break
					}
				}
				c.Close()
			}
		}()
	}
	modes := []func(){p.Pass, func() { p.Delay(time.Millisecond) }, p.Drop, p.Blackhole, p.Pass, p.Cut}
	deadline := time.Now().Add(500 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		modes[i%len(modes)]()
		_ = p.Mode()
		_ = p.Conns()
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	p.Pass()
	got, err := dial(t, p.Addr()).roundTrip("after", waitTimeout)
	require.NoError(t, err)
	assert.Equal(t, "after", got)
}

func TestModeString(t *testing.T) {
	for m, want := range map[meshtest.Mode]string{
		meshtest.Pass: "pass", meshtest.Delay: "delay", meshtest.Drop: "drop",
		meshtest.Blackhole: "blackhole", meshtest.Cut: "cut", meshtest.Mode(9): "Mode(9)",
	} {
		assert.Equal(t, want, m.String())
	}
}
