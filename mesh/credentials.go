package mesh

import "crypto/rand"

// login is how one of the node's own in-process connections logs in: a
// user of the node's server with a name and password made fresh at Start
// and allowed on in-process connections only (inProcessOnly), so that it
// opens nothing to the network even if it were known. (An nkey would need
// a signature made and checked at every such connection, which cost more
// CPU than the rest of its handshake.) The password is kept out of logs
// (redactor) and out of the options Options.ServerOptions is shown
// (serverOptions adds the users after it).
type login struct{ user, pass string }

// newLogin makes a login whose user name is prefix and random characters,
// so that it cannot be one of Options.Users, and whose password is 256
// random bits.
func newLogin(prefix string) login {
	return login{user: prefix + "-" + rand.Text()[:10], pass: rand.Text() + rand.Text()}
}

// inProcessOnly is nats-server's allowed connection types for a user that
// may log in on in-process connections only (jwt.ConnectionTypeInProcess).
var inProcessOnly = map[string]struct{}{"IN_PROCESS": {}}
