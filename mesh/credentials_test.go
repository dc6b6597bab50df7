package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/syncbuf"
	"github.com/natsmesh/natsmesh/options"
)

// alice is a client login the tests below give nodes (clients must log
// in, so nats-server adds no no-auth user of its own).
var alice = options.User{Name: "alice", Password: "alice-Pw-7xq"}

// startWithRuntime starts a node with o and waits for its runtime (its
// internal connections).
func startWithRuntime(t *testing.T, o options.Options) *Node {
	t.Helper()
	n, err := Start(o)
	require.NoError(t, err)
	t.Cleanup(n.Shutdown)
	select {
	case <-n.rtDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the node's runtime did not come up")
	}
	require.NotNil(t, n.sys, "the internal connections are up")
	return n
}

// TestInternalLoginsStayInProcess: the node's own logins (its internal
// connections' and Connect's) work in process and nowhere else: a client
// that dials the client port with them is refused. Their passwords are not
// in the options ServerOptions is shown, nor in any log line at trace
// level.
func TestInternalLoginsStayInProcess(t *testing.T) {
	var logs syncbuf.Buffer
	var shown []*server.User
	n := startWithRuntime(t, options.Options{
		Name:          "a",
		Users:         []options.User{alice},
		Logger:        slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: levelTrace})),
		ServerOptions: func(o *server.Options) { shown = append(shown, o.Users...) },
	})
	nc, err := n.Connect()
	require.NoError(t, err, "Connect logs in with the node's own login")
	nc.Close()
	// Its two connections (system and watch) are known by their login
	// (as waitInternalGone and the client hooks tell them).
	cz, err := n.srv.Connz(&server.ConnzOptions{Account: server.DEFAULT_SYSTEM_ACCOUNT, Username: true})
	require.NoError(t, err)
	own := 0
	for _, c := range cz.Conns {
		if c.AuthorizedUser == n.creds.user {
			own++
		}
	}
	assert.Equal(t, 2, own, "connections logged in as the internal login")

	for _, l := range []login{n.creds, n.app} {
		require.NotEmpty(t, l.user)
		_, err := nats.Connect(n.ClientURL(), nats.UserInfo(l.user, l.pass), nats.NoReconnect())
		require.ErrorIs(t, err, nats.ErrAuthorization, "%s over TCP", l.user)
		for _, u := range shown {
			assert.NotEqual(t, l.user, u.Username, "ServerOptions was shown an internal login")
		}
		// Not assert.NotContains: its message would print the password.
		assert.False(t, strings.Contains(logs.String(), l.pass), "an internal password is in the logs")
	}
	assert.Contains(t, logs.String(), "CONNECT", "trace lines are on")
}

// TestLoginsNotWrittenToTheApplicationsUsers: nodes whose ServerOptions
// set Users to one slice of the application's, with room to spare, start
// at once; the node's logins go to a copy, not into that slice (where they
// would overwrite each other's), and every node's internal connections
// come up.
func TestLoginsNotWrittenToTheApplicationsUsers(t *testing.T) {
	users := make([]*server.User, 1, 8)
	users[0] = &server.User{Username: "bob", Password: "bob-Pw-123"}
	nodes := make([]*Node, 4)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			nodes[i] = startWithRuntime(t, options.Options{
				Name: fmt.Sprintf("n%d", i), Users: []options.User{alice},
				ServerOptions: func(o *server.Options) { o.Users = users },
			})
		})
	}
	wg.Wait()
	assert.True(t, users[:cap(users)][1] == nil, "a login was written into the application's slice")
	for _, n := range nodes {
		nc, err := n.Connect()
		require.NoError(t, err)
		nc.Close()
	}
}

// recordingAuth is an application's authenticator: it lets in alice and
// the logins it is told to, and records every user name and password it
// is asked about.
type recordingAuth struct {
	mu   sync.Mutex
	seen []string
}

func (a *recordingAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, o.Username, o.Password)
	return o.Username == alice.Name && o.Password == alice.Password
}

// TestLoginsPastTheApplicationsAuthenticator: with an authenticator of
// the application's (CustomClientAuthentication, which nats-server asks
// instead of its users), the node's own connections still log in, to the
// right account (two such nodes form a mesh, which takes the system
// account's describe exchange), and the authenticator is never handed
// their user names or passwords. An auth callout is told to skip them.
func TestLoginsPastTheApplicationsAuthenticator(t *testing.T) {
	auth := &recordingAuth{}
	o := options.Options{Users: []options.User{alice}, ServerOptions: func(o *server.Options) { o.CustomClientAuthentication = auth }}
	o.Name = "a"
	a := startWithRuntime(t, o)
	o.Name, o.Seed = "b", a.ClusterURL()
	b := startWithRuntime(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.WaitForPeers(ctx, 1))
	require.NoError(t, b.WaitForPeers(ctx, 1))
	nc, err := nats.Connect(a.ClientURL(), nats.UserInfo(alice.Name, alice.Password))
	require.NoError(t, err, "the authenticator decides for other clients")
	nc.Close()
	// (Only a: node b does not know a's login, and asks its authenticator.)
	_, err = nats.Connect(a.ClientURL(), nats.UserInfo(a.creds.user, a.creds.pass), nats.NoReconnect(), nats.IgnoreDiscoveredServers())
	require.ErrorIs(t, err, nats.ErrAuthorization, "the internal login over TCP")

	auth.mu.Lock()
	defer auth.mu.Unlock()
	require.NotEmpty(t, auth.seen, "the authenticator was asked")
	for _, n := range []*Node{a, b} {
		for _, s := range []string{n.creds.user, n.creds.pass, n.app.user, n.app.pass} {
			// Not assert.NotContains: its message would print the password.
			assert.False(t, slices.Contains(auth.seen, s), "the application's authenticator was asked about an internal login (%d chars)", len(s))
		}
	}

	callout := &server.AuthCallout{Account: "AUTH", AuthUsers: make([]string, 1, 4)}
	callout.AuthUsers[0] = "auth-service"
	creds, app := newLogin(internalConnName), newLogin(appLoginName)
	so := serverOptions(config{Options: options.Options{Users: []options.User{alice},
		ServerOptions: func(o *server.Options) { o.AuthCallout = callout }}}, nil, creds, app, nil)
	assert.Equal(t, []string{"auth-service", creds.user, app.user}, so.AuthCallout.AuthUsers)
	assert.Equal(t, []string{"auth-service"}, callout.AuthUsers, "the application's callout options are left as they were")
}

// TestOperatorCannotHideFromClientHooks: the node's own connections are
// told by the user they logged in as, not by the name they give: an
// operator (SystemUser) who names its connection as the node's own are
// named is reported to ClientConnected like any client.
func TestOperatorCannotHideFromClientHooks(t *testing.T) {
	op := options.User{Name: "op", Password: "op-Pw-1234"}
	seen := make(chan string, 16)
	o := options.Options{Name: "a", SystemUser: op}
	o.Hooks.ClientConnected = func(c Client) { seen <- c.Name }
	n := startWithRuntime(t, o)
	spy, err := nats.Connect(n.ClientURL(), nats.UserInfo(op.Name, op.Password), nats.Name(internalConnName+"-spy"))
	require.NoError(t, err)
	defer spy.Close()
	select {
	case name := <-seen:
		assert.Equal(t, internalConnName+"-spy", name)
	case <-time.After(10 * time.Second):
		t.Fatal("ClientConnected was not called for the operator's connection")
	}
}

// TestPlaintextAdviceIsTheApplications: nats-server's advice to hash
// passwords is news at Info only when the application gave a password as
// it is; the node's own random logins, which every node has, do not make
// every start advise it.
func TestPlaintextAdviceIsTheApplications(t *testing.T) {
	hashShaped := "$2a$11$" + strings.Repeat("x", 53) // bcrypt's shape, no real hash
	tests := []struct {
		name   string
		opts   options.Options
		advice bool
	}{
		{"no application passwords", options.Options{}, false},
		{"a user's password as it is", options.Options{Users: []options.User{alice}}, true},
		{"a user's bcrypt hash", options.Options{Users: []options.User{{Name: "bob", Password: hashShaped}}}, false},
		{"the system user's password as it is", options.Options{SystemUser: options.User{Name: "op", Password: "op-Pw-7xq-long"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs syncbuf.Buffer
			tt.opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			n, err := Start(tt.opts)
			require.NoError(t, err)
			n.Shutdown()
			assert.Equal(t, tt.advice, strings.Contains(logs.String(), cuePlaintextPasswords), "advice at Info: %v", tt.advice)
		})
	}
}
