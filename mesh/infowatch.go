package mesh

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// infoWatch is a minimal NATS protocol client on an in-process connection.
// nats-server sends every client that speaks protocol 1 an async INFO
// whenever the set of client URLs in the cluster changes, which it does
// right after it registers a new peer's first route and right after it
// removes a peer's last one. Each INFO is a cue to re-read the routes, so
// membership follows route state without polling.
type infoWatch struct {
	srv     *server.Server
	creds   login
	cue     func()
	mu      sync.Mutex
	conn    net.Conn
	closing chan struct{}
	done    chan struct{}
}

const watchHandshakeTimeout = 5 * time.Second

// Redials of the watch after the server dropped it: quick, then at most
// once a second, until the node stops.
const (
	watchRedialMin = 10 * time.Millisecond
	watchRedialMax = time.Second
)

func startInfoWatch(srv *server.Server, creds login, cue func()) (*infoWatch, error) {
	w := &infoWatch{srv: srv, creds: creds, cue: cue, closing: make(chan struct{}), done: make(chan struct{})}
	r, err := w.dial()
	if err != nil {
		return nil, fmt.Errorf("natsmesh: in-process watch connection: %w", err)
	}
	go w.run(r)
	return w, nil
}

// dial opens the watch connection and makes it current.
func (w *infoWatch) dial() (*bufio.Reader, error) {
	conn, err := w.srv.InProcessConn()
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	if err := handshake(conn, r, w.creds); err != nil {
		conn.Close()
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.closing:
		conn.Close()
		return nil, net.ErrClosed
	default:
	}
	w.conn = conn
	return r, nil
}

// run reads the watch connection and, should the server drop it (a
// kick, a slow-consumer close), dials it again: the cues must not stop
// while the node runs.
func (w *infoWatch) run(r *bufio.Reader) {
	defer close(w.done)
	wait := watchRedialMin
	for {
		w.read(r)
		for {
			select {
			case <-w.closing:
				return
			case <-time.After(wait):
			}
			var err error
			if r, err = w.dial(); err == nil {
				break
			}
			wait = min(wait*2, watchRedialMax)
		}
		wait = watchRedialMin
		w.cue() // what changed while it was gone
	}
}

// handshake reads the server's INFO, logs in with the node's internal
// login, and sends a PING; after the PONG the server sends async INFOs.
func handshake(conn net.Conn, r *bufio.Reader, creds login) error {
	_ = conn.SetDeadline(time.Now().Add(watchHandshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("want INFO, got %q", line)
	}
	connect, _ := json.Marshal(map[string]any{
		"verbose": false, "pedantic": false, "protocol": 1,
		"name": internalConnName + "-watch", "lang": "go", "version": "natsmesh",
		"user": creds.user, "pass": creds.pass,
	})
	if _, err = fmt.Fprintf(conn, "CONNECT %s\r\nPING\r\n", connect); err != nil {
		return err
	}
	// Wait for the PONG, so the connection is registered before Start
	// returns (and a quick Shutdown does not race its registration).
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(line, "PONG"):
			return nil
		case strings.HasPrefix(line, "-ERR"):
			return fmt.Errorf("server refused the watch connection: %s", strings.TrimSpace(line))
		}
	}
}

// read reads the watch connection until it fails, cueing at every INFO.
func (w *infoWatch) read(r *bufio.Reader) {
	w.mu.Lock()
	conn := w.conn
	w.mu.Unlock()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			conn.Close()
			return
		}
		switch {
		case strings.HasPrefix(line, "INFO"):
			w.cue()
		case strings.HasPrefix(line, "PING"):
			if _, err := conn.Write([]byte("PONG\r\n")); err != nil {
				conn.Close()
				return
			}
		}
	}
}

// close ends the watch and waits for it.
func (w *infoWatch) close() {
	w.mu.Lock()
	close(w.closing)
	if w.conn != nil {
		w.conn.Close()
	}
	w.mu.Unlock()
	<-w.done
}
