package mesh

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// sysConn is the node's in-process connection to the system account. It
// hears the goodbyes other servers broadcast ($SYS.SERVER.<id>.SHUTDOWN and
// .LAMEDUCK, sent by nats-server itself, so stock servers say goodbye too)
// and asks peers for their addresses.
type sysConn struct {
	nc       *nats.Conn
	goodbyes chan *nats.Msg
	subs     []*nats.Subscription
}

func dialSys(srv *server.Server, creds credentials) (*sysConn, error) {
	nc, err := nats.Connect("",
		nats.InProcessServer(srv),
		nats.Nkey(creds.pub, creds.sign),
		nats.Name(internalConnName),
		nats.NoReconnect(),
		nats.IgnoreDiscoveredServers(),
	)
	if err != nil {
		return nil, fmt.Errorf("natsmesh: in-process system connection: %w", err)
	}
	s := &sysConn{nc: nc, goodbyes: make(chan *nats.Msg, 4096)}
	for _, subj := range []string{"$SYS.SERVER.*.SHUTDOWN", "$SYS.SERVER.*.LAMEDUCK"} {
		sub, err := nc.ChanSubscribe(subj, s.goodbyes)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("natsmesh: subscribe %s: %w", subj, err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		s.subs = append(s.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsmesh: in-process system connection: %w", err)
	}
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

// varzReply is the part of a $SYS.REQ.SERVER.<id>.VARZ reply we use.
type varzReply struct {
	Data struct {
		Name    string `json:"server_name"`
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

// describe asks peer id for its addresses. fallbackIP (the address its
// route comes from) replaces a wildcard bind address. It retries while the
// peer's subscriptions have not reached this server yet (no responders).
func (s *sysConn) describe(id, fallbackIP string, deadline time.Time) (clusterURL string, clientURLs []string, err error) {
	subj := "$SYS.REQ.SERVER." + id + ".VARZ"
	wait := 200 * time.Microsecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return "", nil, fmt.Errorf("natsmesh: no VARZ reply from %s: %w", id, nats.ErrTimeout)
		}
		msg, err := s.nc.Request(subj, nil, left)
		if errors.Is(err, nats.ErrNoResponders) {
			time.Sleep(min(wait, time.Until(deadline)))
			wait = min(wait*2, 20*time.Millisecond)
			continue
		}
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
}

// natsURL builds nats://host:port, replacing a wildcard or empty host.
func natsURL(host, fallback string, port int) string {
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = fallback
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}

func (s *sysConn) close() { s.nc.Close() }
