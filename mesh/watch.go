package mesh

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strings"
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
	conn net.Conn
	done chan struct{}
}

const watchHandshakeTimeout = 5 * time.Second

func startInfoWatch(srv *server.Server, creds credentials, cue func()) (*infoWatch, error) {
	conn, err := srv.InProcessConn()
	if err != nil {
		return nil, fmt.Errorf("natsmesh: in-process watch connection: %w", err)
	}
	r := bufio.NewReader(conn)
	if err := handshake(conn, r, creds); err != nil {
		conn.Close()
		return nil, fmt.Errorf("natsmesh: in-process watch connection: %w", err)
	}
	w := &infoWatch{conn: conn, done: make(chan struct{})}
	go w.read(r, cue)
	return w, nil
}

// handshake reads the server's INFO, answers its nonce with the node's
// nkey, and sends a PING; after the PONG the server sends async INFOs.
func handshake(conn net.Conn, r *bufio.Reader, creds credentials) error {
	_ = conn.SetDeadline(time.Now().Add(watchHandshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("want INFO, got %q", line)
	}
	var info struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(line[5:])), &info); err != nil {
		return fmt.Errorf("server INFO: %w", err)
	}
	sig, err := creds.sign([]byte(info.Nonce))
	if err != nil {
		return err
	}
	connect, _ := json.Marshal(map[string]any{
		"verbose": false, "pedantic": false, "protocol": 1,
		"name": internalConnName + "-watch", "lang": "go", "version": "natsmesh",
		"nkey": creds.pub, "sig": base64.RawURLEncoding.EncodeToString(sig),
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

func (w *infoWatch) read(r *bufio.Reader, cue func()) {
	defer close(w.done)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch {
		case strings.HasPrefix(line, "INFO"):
			cue()
		case strings.HasPrefix(line, "PING"):
			if _, err := w.conn.Write([]byte("PONG\r\n")); err != nil {
				return
			}
		}
	}
}

func (w *infoWatch) close() {
	w.conn.Close()
	<-w.done
}
