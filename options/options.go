// Package options holds what a natsmesh user configures: Options (the
// node's addresses, its seed, failure-detection timings, security, logging,
// JetStream) and Hooks, through which the application hears about the mesh
// (Peer, Client, RouteError, Traffic).
//
// The zero Options is a valid node: loopback, free ports, a generated name,
// no seed (it starts a mesh of its own). Package mesh consumes these values.
// Options.Normalize is the one judge of their values: mesh.Start calls it,
// programs may call it to check input early, and FromArgs, which reads
// nats-server's command-line flags into Options, reports its verdicts in
// terms of the flags. A bad value is a *FieldError, matching ErrInvalid;
// every error starts with "natsmesh: ".
package options

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/discovery"
)

// DefaultCluster is the cluster name used when Options.Cluster is empty.
// Nodes only form routes with nodes of the same cluster name.
const DefaultCluster = "natsmesh"

// Defaults applied by Normalize to zero-valued fields.
const (
	DefaultHost             = "127.0.0.1"
	DefaultReadyTimeout     = 10 * time.Second
	DefaultPingInterval     = 800 * time.Millisecond
	DefaultMaxPingsOut      = 2
	DefaultLameDuckDuration = 2 * time.Second
	DefaultDiscoverTimeout  = 2 * time.Second
)

// Options configures one mesh node. Every field's zero value is usable.
type Options struct {
	// Name identifies the node in its mesh and must be unique there.
	// "" generates one ("node-" and random characters).
	Name string

	// Cluster is the cluster name; only nodes with the same name mesh.
	// "" means DefaultCluster.
	Cluster string

	// Host is the address the client listener binds to: an IP, a host name
	// or a go-sockaddr template such as `{{ GetPrivateIP }}`.
	// "" means 127.0.0.1 (loopback).
	Host string

	// Port is the client port. 0 (or -1, as nats-server writes it) picks a
	// free port.
	Port int

	// ClusterHost is the address the route listener binds to, in the same
	// forms as Host. "" means the same as Host.
	ClusterHost string

	// ClusterPort is the route port other nodes seed from. 0 (or -1) picks
	// a free port.
	ClusterPort int

	// ClientAdvertise is the address clients are told to use for this
	// node, "host" or "host:port" (host an IP, a host name or a go-sockaddr
	// template); without a port the client port is meant. "" advertises
	// the listen address (every interface's, if Host is a wildcard). Set it
	// when clients reach the node through NAT, a proxy or a wildcard bind.
	ClientAdvertise string

	// ClusterAdvertise is the route address other nodes are told to use
	// for this node, in the same forms as ClientAdvertise; gossip spreads
	// it, so every peer dials it. "" advertises the route listen address.
	ClusterAdvertise string

	// Seed is one route URL ("nats://host:port", scheme nats or nats-route)
	// of any node of the mesh to join. "" makes this node the first of a new
	// mesh. The seed need not be up when Start is called: the node keeps
	// trying it.
	Seed string

	// ExtraSeeds are further route URLs tried alongside Seed, as nats-server
	// does with every URL of -routes. Usually empty: one seed is enough for
	// the node to learn the whole mesh.
	ExtraSeeds []string

	// SeedProvider finds seeds at run time: a static list, DNS A/AAAA or
	// SRV records, a file (see package discovery). It is asked at Start
	// (bounded by DiscoverTimeout) and again, with backoff, whenever the
	// node has no peer and no route; its seeds are tried alongside Seed
	// and ExtraSeeds. nil: only Seed and ExtraSeeds.
	SeedProvider discovery.Provider

	// PeersFile, if set, is where the node remembers the route URLs of the
	// peers it has seen (one per line, the format discovery.File reads),
	// rewritten on every join. At Start they are seeds too, so a restarted
	// node rejoins through any node it knew, even if its first seed is
	// gone.
	PeersFile string

	// DiscoverTimeout bounds each call to SeedProvider.Discover.
	// 0 means DefaultDiscoverTimeout (2s).
	DiscoverTimeout time.Duration

	// PingInterval is how often a route is pinged; a peer that leaves
	// MaxPingsOut pings in a row unanswered is dropped and reported lost.
	// 0 means DefaultPingInterval (800ms): a silent peer is noticed in
	// PingInterval*MaxPingsOut to PingInterval*(MaxPingsOut+1), 1.6-2.4 s
	// with the defaults.
	PingInterval time.Duration

	// MaxPingsOut is the number of unanswered route pings tolerated.
	// 0 means DefaultMaxPingsOut (2).
	MaxPingsOut int

	// LameDuckDuration bounds how long Leave spreads the closing of this
	// node's clients, so they reconnect to peers a few at a time.
	// 0 means DefaultLameDuckDuration (2s).
	LameDuckDuration time.Duration

	// ReadyTimeout bounds how long Start waits for the listeners.
	// 0 means DefaultReadyTimeout (10s).
	ReadyTimeout time.Duration

	// Logger receives nats-server's log lines at matching levels, with the
	// node's name as the attribute "node". nil logs warnings and errors to
	// standard error.
	Logger *slog.Logger

	// Monitor turns on nats-server's HTTP monitoring endpoint (/varz,
	// /routez, /connz, /healthz ...), so the tools NATS users already run
	// work against the node. Off by default.
	Monitor bool

	// MonitorHost is the monitoring listen address. "" means Host.
	MonitorHost string

	// MonitorPort is the monitoring port. 0 (or -1) picks a free port.
	MonitorPort int

	// TrafficInterval is how often Hooks.Traffic is called. 0 turns the
	// samples off, even if the hook is set.
	TrafficInterval time.Duration

	// Secret, if set, seals the mesh: routes are mutual TLS with
	// certificates derived from it. Every node that shares the secret
	// derives the same certificate authority (HKDF over the secret, an
	// Ed25519 key from the result) and mints its own certificate at Start,
	// with a fresh key that never leaves the process; each end of a route
	// requires and verifies the other's. A node or stock server without a
	// certificate from that authority cannot finish the route handshake,
	// and nothing after the handshake (messages, subscriptions, the
	// system account's events) is readable on the wire. Verification does
	// not depend on the address a route dials, so routes learned by gossip
	// (IP addresses) and advertised host names work alike.
	//
	// The secret protects routes only: clients are not affected (see
	// ClientTLS, Users and Token). Anyone who knows it can join the mesh.
	// It is a key, not a password: anyone who reaches a route port can
	// fetch a node's certificate and test guesses against it offline, so
	// it must be SecretBytes (32) or more random bytes, base64-encoded, as
	// NewSecret makes it. "" leaves routes in plain text, open to any
	// server that reaches the route port.
	Secret string

	// AcceptedSecrets are further secrets whose nodes are accepted as
	// peers, while this node's own certificate comes from Secret. They
	// rotate the secret without downtime, by three rolling restarts: every
	// node accepts the new secret (Secret old, AcceptedSecrets [new]), then
	// uses it (Secret new, AcceptedSecrets [old]), then drops the old
	// (Secret new). Requires Secret.
	AcceptedSecrets []string

	// RouteTLS, if set, makes routes mutual TLS with the application's own
	// certificates, instead of Secret (setting both is an error). It must
	// hold a certificate (Certificates or GetCertificate) and the
	// authorities that sign peers' certificates (RootCAs and ClientCAs;
	// either one is used for both directions when the other is nil).
	// Peers' certificates are verified as nats-server does: when a route
	// is dialled by IP address, the certificate must name that IP, so
	// certificates should carry the addresses peers dial (or set
	// ServerName to a name every certificate carries). The config is
	// cloned, never changed.
	RouteTLS *tls.Config

	// ClientTLS, if set, turns on TLS on the client port (it must hold a
	// certificate). Clients verify the node with their own roots; set
	// ClientAuth (tls.RequireAndVerifyClientCert) and ClientCAs to require
	// client certificates too. Connect, in process, keeps working without
	// TLS. The config is cloned, never changed.
	ClientTLS *tls.Config

	// Users, if set, are the client logins: a client must give one of
	// these names and its password (nats.UserInfo), or Token, or it is
	// refused, and AuthFailed reports it. Users land in the global
	// account, as anonymous clients do without Users, so their messages
	// reach the node's in-process Connect clients and every other user's.
	// nil (with Token "") lets anonymous clients in, as a stock
	// nats-server without authorization does.
	Users []User

	// Token, if set, is a client login too: a client presenting it
	// (nats.Token) is let in, into the global account; one without it (or
	// one of Users) is refused. "" means no token. Like passwords, it must
	// be MinCredentialLength (8) bytes or more, and crosses the network in
	// the clear unless ClientTLS is set.
	Token string

	// SystemUser, if its Name is set, is an operator login into the
	// system account, so that `nats server list`, `nats server ping` and
	// `nats server report connections` work against the mesh. Other
	// clients never see the system account. The zero User means none.
	SystemUser User

	// ServerOptions, if set, is called with the nats-server options the
	// node is about to start with, to adjust what this package does not
	// cover (limits such as JetStream's memory and disk, leafnode,
	// websocket and MQTT listeners). Changing names, ports, routes or
	// accounts breaks what the package relies on.
	ServerOptions func(*server.Options)

	// Hooks are the application's callbacks; nil fields are not called.
	Hooks Hooks

	// JetStream turns on clustered JetStream (nats-server's -js) on this
	// node, the first node of a mesh included. The JetStream meta group
	// grows as nodes join (see README, "Durable state with JetStream").
	// Limits (memory, disk) are nats-server's JetStreamMaxMemory and
	// JetStreamMaxStore, set through ServerOptions. Off by default.
	JetStream bool

	// StoreDir is where JetStream keeps its data (nats-server's -sd).
	// Every node needs its own: Start refuses a StoreDir that another
	// running node holds. A node restarted with the same Name and
	// StoreDir carries on where it stopped. "" means a fresh directory
	// under the OS temp dir, removed at Shutdown: the data does not
	// survive a restart. Ignored unless JetStream is set.
	StoreDir string

	// RemoveLostAfter is how long a peer must have been Lost (its routes
	// gone without a goodbye) before this node removes it from the
	// JetStream meta group for good, as if it had been decommissioned, so
	// it no longer counts toward quorum. The removal is logged at warning
	// level. 0 (the default) never removes a peer automatically. Ignored
	// unless JetStream is set.
	RemoveLostAfter time.Duration
}
