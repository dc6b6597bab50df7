package mesh

import (
	"crypto/rand"
	"crypto/subtle"
	"regexp"
	"slices"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
)

// login is how one of the node's own in-process connections logs in: a
// user of the node's server with a name and password made fresh at Start
// and allowed on in-process connections only, so that it opens nothing to
// the network even if it were known. (An nkey would need a signature made
// and checked at every such connection, which cost more CPU than the rest
// of its handshake.) The password is kept out of logs (redactor), out of
// the options while the application's ServerOptions callback runs, and
// away from its authenticator or auth callout (addLogins). (A callback
// that keeps the *server.Options can read it afterwards: code in the same
// process, which could as well open an in-process connection itself.)
type login struct{ user, pass string }

// newLogin makes a login whose user name is prefix and random characters,
// so that it cannot be one of Options.Users, and whose password is 256
// random bits.
func newLogin(prefix string) login {
	return login{user: prefix + "-" + rand.Text()[:10], pass: rand.Text() + rand.Text()}
}

// addLogins adds the node's logins to o, once the application's
// ServerOptions callback has run (so that it never sees them): creds to
// acc (the system account), and app, if set, to the global account. An
// authenticator of the application's (CustomClientAuthentication, which
// nats-server asks instead of its users) is asked only about other
// clients, and an auth callout skips the logins: neither is handed their
// passwords, nor can refuse the node its own connections.
func addLogins(o *server.Options, acc *server.Account, creds, app login) {
	users := []*server.User{{Username: creds.user, Password: creds.pass, Account: acc, AllowedConnectionTypes: inProcessOnly()}}
	names := []string{creds.user}
	if app.user != "" {
		users = append(users, &server.User{Username: app.user, Password: app.pass, AllowedConnectionTypes: inProcessOnly()})
		names = append(names, app.user)
	}
	// Clipped: the application's slice, if ServerOptions set one, is not
	// written to.
	o.Users = append(slices.Clip(o.Users), users...)
	if o.CustomClientAuthentication != nil {
		o.CustomClientAuthentication = &loginsFirst{users: users, app: o.CustomClientAuthentication}
	}
	if o.AuthCallout != nil {
		ac := *o.AuthCallout
		ac.AuthUsers = append(slices.Clip(ac.AuthUsers), names...)
		o.AuthCallout = &ac
	}
}

// ownConnection tells whether a connection of account that logged in as
// user is one of the node's own (internalUser is its internal login's user
// name): only they can log in as that user, whatever name a client gives
// itself (an operator's client of the system account can take any).
func ownConnection(account, user, internalUser string) bool {
	return account == server.DEFAULT_SYSTEM_ACCOUNT && user == internalUser
}

// inProcessOnly returns nats-server's allowed connection types for a user
// that may log in on in-process connections only
// (jwt.ConnectionTypeInProcess).
func inProcessOnly() map[string]struct{} { return map[string]struct{}{"IN_PROCESS": {}} }

// loginsFirst checks the node's logins itself, as nats-server checks its
// users (in process only, the password compared in constant time), and
// hands every other client to the application's authenticator.
type loginsFirst struct {
	users []*server.User // as in the options: Account is the options' copy
	app   server.Authentication
	// srv is the server, set by Start once it exists (before it starts):
	// a client is registered with the server's own account, not the
	// options' copy of it.
	srv atomic.Pointer[server.Server]
}

// Check implements server.Authentication.
func (a *loginsFirst) Check(c server.ClientAuthentication) bool {
	co := c.GetOpts()
	for _, u := range a.users {
		if co.Username != u.Username {
			continue
		}
		// nats-server's in-process connections are net.Pipe ends.
		addr := c.RemoteAddress()
		if c.Kind() != server.CLIENT || addr == nil || addr.Network() != "pipe" ||
			subtle.ConstantTimeCompare([]byte(co.Password), []byte(u.Password)) != 1 {
			return false
		}
		var acc *server.Account // nil: the global account, where clients start
		if u.Account != nil {
			srv := a.srv.Load()
			if srv == nil {
				return false
			}
			var err error
			if acc, err = srv.LookupAccount(u.Account.Name); err != nil {
				return false
			}
		}
		c.RegisterUser(&server.User{Username: u.Username, Account: acc})
		return true
	}
	return a.app.Check(c)
}

// bcryptHash is what nats-server takes for a bcrypt hash of a password.
var bcryptHash = regexp.MustCompile(`^\$2[abxy]\$\d{2}\$.*`)

// appPlaintext tells whether the application gave a password that is no
// bcrypt hash: nats-server's advice to hash passwords is then about the
// application's.
func appPlaintext(n config) bool {
	users := append(slices.Clip(n.Users), n.SystemUser)
	for _, u := range users {
		if u.Password != "" && !bcryptHash.MatchString(u.Password) {
			return true
		}
	}
	return false
}
