package mesh

import (
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/natsmesh/natsmesh/options"
)

// The library's own in-process connections authenticate to the system
// account with an nkey made fresh for every node (its seed never leaves the
// process). With only the system account configured, nats-server itself
// makes every other client a no-auth user of the global account, as on a
// stock nats-server without authorization.
const (
	internalConnName = "natsmesh-internal"
)

const (
	gossipedRouteRetries  = 600
	reconnectErrorReports = 60
)

type credentials struct {
	kp  nkeys.KeyPair
	pub string
}

func newCredentials() (credentials, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return credentials{}, fmt.Errorf("natsmesh: internal nkey: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return credentials{}, fmt.Errorf("natsmesh: internal nkey: %w", err)
	}
	return credentials{kp: kp, pub: pub}, nil
}

// sign signs a server nonce, as nats.Nkey's callback does.
func (c credentials) sign(nonce []byte) ([]byte, error) { return c.kp.Sign(nonce) }

// serverOptions translates checked options into nats-server's.
func serverOptions(n options.Normalized, routes []*url.URL, creds credentials) *server.Options {
	sys := server.NewAccount(server.DEFAULT_SYSTEM_ACCOUNT)
	o := &server.Options{
		ServerName:          n.Name,
		Host:                n.Host,
		Port:                freeIfZero(n.Port),
		ClientAdvertise:     n.ClientAdvertise,
		NoSigs:              true,
		NoLog:               false,
		MaxPayload:          server.MAX_PAYLOAD_SIZE,
		Accounts:            []*server.Account{sys},
		SystemAccount:       server.DEFAULT_SYSTEM_ACCOUNT,
		Nkeys:               []*server.NkeyUser{{Nkey: creds.pub, Account: sys}},
		LameDuckDuration:    n.LameDuckDuration,
		LameDuckGracePeriod: max(n.LameDuckDuration/10, time.Nanosecond), // 0 would mean nats-server's 10 s
		Cluster: server.ClusterOpts{
			Name:      n.Cluster,
			Host:      n.ClusterHost,
			Port:      freeIfZero(n.ClusterPort),
			Advertise: n.ClusterAdvertise,
			// nats-server redials a route learned by gossip only this many
			// times, a second apart (its default: never), so after a
			// network cut two healthy nodes could stay apart for good in an
			// otherwise full mesh, losing messages between their clients.
			// Redialling for 10 minutes heals cuts (and refusals at join
			// time) shorter than that; seeds are redialled for ever.
			ConnectRetries: gossipedRouteRetries,
			PingInterval:   n.PingInterval,
			// One connection per peer, no pool and no dedicated
			// system-account route (nats-server's default is a pool of 3
			// plus one route for the system account: 4 per peer). A mesh's
			// traffic is one account; with one connection a peer's
			// interest, the system account's included, arrives with its
			// first route, and a 32-node mesh forms in half the time.
			// Pooled peers (stock servers) accept this as they accept
			// servers from before pooling.
			PoolSize: -1,
		},
		// Routes use the top-level MaxPingsOut when the cluster's is 0
		// (so do clients, whose pings come every 2 minutes). Set here, the
		// busy-node lifeguard can change it by a reload that touches
		// nothing else; a reload of the cluster options would also reload
		// every account and authorization.
		MaxPingsOut: n.MaxPingsOut,
	}
	o.Routes = routes
	// A route being redialled logs its first failure, then every
	// reconnectErrorReports-th (nats-server's default: every one).
	o.ReconnectErrorReports = reconnectErrorReports
	if n.Monitor {
		o.HTTPHost = n.MonitorHost
		o.HTTPPort = freeIfZero(n.MonitorPort)
	}
	if n.ServerOptions != nil {
		n.ServerOptions(o)
	}
	return o
}

// freeIfZero maps our "0 is a free port" to nats-server's RANDOM_PORT
// (nats-server reads 0 as its default port).
func freeIfZero(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}
