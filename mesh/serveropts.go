package mesh

import (
	"crypto/tls"
	"net/url"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The library's own in-process connections log in to the system account
// as a user made fresh for every node and allowed on in-process
// connections only (see login). With only the system account configured,
// nats-server itself makes every other client a no-auth user of the
// global account, as on a stock nats-server without authorization.
//
// With Users or Token, clients must log in. nats-server adds its no-auth
// user whenever the only accounts are the global and the system one (an
// embedder cannot say that an authorization block was given), which would
// leave anonymous clients in: an empty third account, closedAccount, stops
// that. Connect then logs in to the global account with a second login of
// the node's own, also in process only.
const (
	internalConnName = "natsmesh-internal"
	appLoginName     = "natsmesh-connect"
	closedAccount    = "natsmesh-no-anonymous"
)

const (
	gossipedRouteRetries  = 600
	reconnectErrorReports = 60
)

// clientsMustLogIn tells whether anonymous clients are refused.
func clientsMustLogIn(n config) bool { return len(n.Users) > 0 || n.Token != "" }

// serverOptions translates checked options into nats-server's. app is the
// node's login to the global account, used when clients must log in; sec
// is the route TLS (nil: plain routes).
func serverOptions(n config, routes []*url.URL, creds, app login, sec *routeSecurity) *server.Options {
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
	if sec != nil {
		o.Cluster.TLSConfig = sec.cfg
		o.Cluster.TLSTimeout = routeTLSTimeout
	}
	if n.ClientTLS != nil {
		o.TLSConfig = n.ClientTLS.Clone()
		o.TLSTimeout = routeTLSTimeout
		o.TLSVerify = o.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert
	}
	if clientsMustLogIn(n) {
		o.Accounts = append(o.Accounts, server.NewAccount(closedAccount))
		for _, u := range n.Users {
			o.Users = append(o.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: u.Permissions})
		}
		o.Authorization = n.Token
	}
	if u := n.SystemUser; u.Name != "" {
		o.Users = append(o.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: operatorPermissions(u.Permissions), Account: sys})
	}
	// A route being redialled logs its first failure, then every
	// reconnectErrorReports-th (nats-server's default: every one).
	o.ReconnectErrorReports = reconnectErrorReports
	if n.Monitor {
		o.HTTPHost = n.MonitorHost
		o.HTTPPort = freeIfZero(n.MonitorPort)
	}
	jetStreamServerOptions(o, n)
	if n.ServerOptions != nil {
		n.ServerOptions(o)
	}
	addLogins(o, sys, creds, app)
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

// operatorPermissions are the SystemUser's permissions: what the
// application gave, less what would let an operator's client make nodes
// report lies: a goodbye in a server's name, nats-server's or natsmesh's
// (a crash reported as a graceful leave) and natsmesh's describe protocol (a peer's addresses).
func operatorPermissions(p *server.Permissions) *server.Permissions {
	out := &server.Permissions{Publish: &server.SubjectPermission{}, Subscribe: &server.SubjectPermission{}}
	if p != nil {
		if p.Publish != nil {
			*out.Publish = *p.Publish
		}
		if p.Subscribe != nil {
			*out.Subscribe = *p.Subscribe
		}
		out.Response = p.Response
	}
	out.Publish.Deny = append(slices.Clone(out.Publish.Deny), "$SYS.SERVER.*.SHUTDOWN", "$SYS.SERVER.*.LAMEDUCK", byeSubjects, describeSubject("*"))
	out.Subscribe.Deny = append(slices.Clone(out.Subscribe.Deny), describeSubject("*"))
	return out
}
