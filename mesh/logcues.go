package mesh

// The words of nats-server's log that natsmesh reacts to, all in one
// place. They are those of the nats-server version in go.mod, and
// TestLogCuesPinned finds each in that version's source, so an upgrade
// that rewords one fails a test instead of silently changing behaviour
// (TestLogCuesOfTheOS checks the two that are the text of an error
// nats-server prints: a connection reset, EOF).
//
// Where nats-server offers a structured source, natsmesh uses it instead:
// client connects, disconnects and authentication failures come from
// system events ($SYS.ACCOUNT.*.CONNECT, .DISCONNECT,
// $SYS.SERVER.*.CLIENT.AUTH.ERR), goodbyes from $SYS.SERVER.*.SHUTDOWN
// and natsmesh's own BYE, route state from Routez and the route counters,
// client URLs from the async INFO protocol. What is left here has no such
// source: nats-server announces no event when a route opens, closes, is
// refused or fails to dial, and the level a line deserves is a matter of
// its words.
const (
	// cueRouteCreated and cueConnClosed (notices) tell the membership
	// tracker that a route opened or closed: it re-reads the route
	// counters then, instead of polling them.
	cueRouteCreated = "Route connection created"
	cueConnClosed   = "connection closed"
	// cueRouterClosed, cueRemoteTag: "Router connection closed: <reason>
	// - Remote: <name>", the route's other end named; if it bears this
	// node's name, the two names clash.
	cueRouterClosed = "Router connection closed"
	cueRemoteTag    = " - Remote: "
	// cueRouteTag and cueClientTag start the part of a line that follows
	// a connection's address: "ip:port - rid:N - message" for a route,
	// "- cid:N -" for a client.
	cueRouteTag  = " - rid:"
	cueClientTag = " - cid:"
	// cueFieldSep ends a connection's tag: the message follows it
	// ("ip:port - rid:N - message").
	cueFieldSep = " - "
	// cueDetail starts the detail nats-server adds to a TLS handshake
	// error, in parentheses (the certificates' subjects and fingerprints),
	// which refusals are not counted by.
	cueDetail = " ("

	// cuePlaintextPasswords is nats-server's advice to hash the passwords
	// of Options.Users: the application chose to give them as they are.
	cuePlaintextPasswords = "Plaintext passwords detected"
	// cueFlushError: a failed write on a route to a peer that just went
	// away, which PeerLeft reports.
	cueFlushError = "Error flushing"
	// cueRouteDialError: a failed dial of a route; an error only if it is
	// a seed (a gossiped route's peer has gone, which PeerLeft reports).
	cueRouteDialError = "Error trying to connect to route"
	// cueDedicatedRoute: a pooled stock nats-server asking for a
	// dedicated system-account route, which natsmesh declines by design.
	cueDedicatedRoute = "Not possible to have a dedicated route for account"
	// cueRegisterAccount with a closed connection: a client that went
	// away while it connected.
	cueRegisterAccount = "Problem registering with account"
	// cueDuplicateName: this node refused a route from a node with its
	// name.
	cueDuplicateName = "Remote server has a duplicate name"
	// cueTLSHandshakeError: "TLS route handshake error: <err>"; with
	// cueConnReset or EOF (cueEOF) as the error, the other end hung up.
	cueTLSHandshakeError = "handshake error: "
	cueConnReset         = "connection reset by peer"
	cueEOF               = ": EOF"
	// cueAuthError: a client refused for its credentials.
	cueAuthError = "authentication error"
	// cueConnectProto starts a CONNECT protocol line in a trace, which
	// carries the client's credentials and is cut before it is logged.
	cueConnectProto = "CONNECT {"
	// decommissionedJetStream is the error a node logs when it has been
	// removed from the meta group, which it expects when it decommissions.
	decommissionedJetStream = "JetStream being DISABLED, our server was removed from the cluster"
)

// The words of the route errors that mean a route was refused (see
// refusalCues).
const (
	// cueRefusedTLS: "TLS route handshake error: ...", a TLS handshake
	// that failed (another secret, no certificate).
	cueRefusedTLS = "handshake error"
	// cueRefusedTLSTimeout: "TLS handshake timeout".
	cueRefusedTLSTimeout = "handshake timeout"
	// cueRefusedCluster: "Rejecting connection, cluster name %q does not
	// match %q" (or "is reserved"), logged where it is refused and, as a
	// "Route Error", where the refusal arrives.
	cueRefusedCluster = "cluster name"
	// cueRefusedAuth: the -ERR a route refused for its credentials
	// receives, logged as "Route Error 'Authorization Violation'"; the
	// refusing side logs cueAuthError.
	cueRefusedAuth = "Authorization Violation"
	// cueRefusedDuplicate: "Remote server has a duplicate name: %q".
	cueRefusedDuplicate = "duplicate name"
)

// refusalCues are the words of the route errors that mean a route was
// refused: a TLS handshake that failed (another secret, no certificate),
// another cluster's name, credentials refused, a duplicate name.
var refusalCues = []string{cueRefusedTLS, cueRefusedTLSTimeout, cueRefusedCluster, cueRefusedAuth, cueAuthError, cueRefusedDuplicate}

// routineJetStream are the starts of warnings nats-server logs in the
// normal life of a clustered JetStream that grows, shrinks and restarts:
// a node waiting for its routes or for the meta leader while the mesh
// forms or catches up, meta-layer snapshots (taken every few seconds of
// activity, and put off while a peer catches up), a leader handing over
// before it stops. They are logged at info level, so that a healthy mesh
// logs no warning.
var routineJetStream = []string{
	"Waiting for routing to be established",
	"JetStream has not established contact with a meta leader",
	"Metalayer blocking snapshot starting",
	"Metalayer blocking snapshot took",
	"Metalayer async snapshot took",
	"Metalayer snapshot generation took",
	"JetStream initiating meta leader transfer",
	"Health check OK, no longer falling behind",
	"JetStream is not current with the meta leader",
	"JetStream is still recovering meta layer",
	"Error snapshotting JetStream cluster state: raft: snapshot can not be installed while catchups running",
}
