package options

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// MinSecretLength is the shortest Secret (and AcceptedSecrets entry)
// Normalize accepts, in bytes.
const MinSecretLength = 16

// User is a client login: a name, its password and, optionally, what the
// user may publish and subscribe to. Its String, GoString and LogValue
// methods mask the password, so printing or logging a User shows no
// secret.
type User struct {
	// Name is the login name; it must not be empty or hold spaces.
	Name string
	// Password is the user's password; it must not be empty.
	Password string
	// Permissions limits the subjects the user may publish and subscribe
	// to (nats-server's own type). nil allows every subject.
	Permissions *server.Permissions
}

// String returns the user's name and a masked password.
func (u User) String() string {
	if u.Password == "" {
		return u.Name
	}
	return u.Name + ":xxxxx"
}

// GoString is String, so %#v masks the password too.
func (u User) GoString() string { return "options.User{" + u.String() + "}" }

// LogValue is String, so slog masks the password too.
func (u User) LogValue() slog.Value { return slog.StringValue(u.String()) }

// NewSecret returns a random secret for Options.Secret: 32 bytes from
// crypto/rand, base64url-encoded (43 characters).
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// masked stands for a secret's value in a FieldError: its length only.
type masked int

func (m masked) GoString() string { return fmt.Sprintf("<%d bytes, not shown>", int(m)) }

// checkSecurity checks the security options: secrets long enough, one
// kind of route TLS, TLS configs that hold a certificate, users that can
// log in. No error holds a secret or a password.
func (o Options) checkSecurity() []error {
	var errs []error
	if o.Secret != "" && len(o.Secret) < MinSecretLength {
		errs = append(errs, fieldErr("Secret", masked(len(o.Secret)), "must be at least %d bytes (try options.NewSecret)", MinSecretLength))
	}
	for i, s := range o.AcceptedSecrets {
		if len(s) < MinSecretLength {
			errs = append(errs, fieldErr(fmt.Sprintf("AcceptedSecrets[%d]", i), masked(len(s)), "must be at least %d bytes", MinSecretLength))
		}
	}
	if len(o.AcceptedSecrets) > 0 && o.Secret == "" {
		errs = append(errs, fieldErr("AcceptedSecrets", fmt.Sprintf("<%d secrets, not shown>", len(o.AcceptedSecrets)), "needs Secret: it only widens whom a node with a secret accepts"))
	}
	if o.RouteTLS != nil {
		switch {
		case o.Secret != "":
			errs = append(errs, fieldErr("RouteTLS", "set", "set Secret or RouteTLS, not both"))
		case !hasCertificate(o.RouteTLS):
			errs = append(errs, fieldErr("RouteTLS", "set", "holds no certificate (Certificates or GetCertificate)"))
		case o.RouteTLS.RootCAs == nil && o.RouteTLS.ClientCAs == nil:
			errs = append(errs, fieldErr("RouteTLS", "set", "holds no authority to verify peers with (RootCAs or ClientCAs)"))
		}
	}
	if o.ClientTLS != nil && !hasCertificate(o.ClientTLS) {
		errs = append(errs, fieldErr("ClientTLS", "set", "holds no certificate (Certificates or GetCertificate)"))
	}

	names := map[string]string{}
	checkUser := func(field string, u User) {
		switch {
		case u.Name == "":
			errs = append(errs, fieldErr(field+".Name", u.Name, "must not be empty"))
		case strings.ContainsAny(u.Name, " \t\r\n"):
			errs = append(errs, fieldErr(field+".Name", u.Name, "must not contain spaces"))
		case u.Password == "":
			errs = append(errs, fieldErr(field+".Password", "", "must not be empty"))
		case names[u.Name] != "":
			errs = append(errs, fieldErr(field+".Name", u.Name, "is also the name of %s", names[u.Name]))
		default:
			names[u.Name] = field
		}
		if bad := badPermission(u.Permissions); bad != "" {
			errs = append(errs, fieldErr(field+".Permissions", bad, "is not a valid subject"))
		}
	}
	for i, u := range o.Users {
		checkUser(fmt.Sprintf("Users[%d]", i), u)
	}
	if o.SystemUser.Name != "" || o.SystemUser.Password != "" || o.SystemUser.Permissions != nil {
		checkUser("SystemUser", o.SystemUser)
	}
	return errs
}

func hasCertificate(c *tls.Config) bool {
	return len(c.Certificates) > 0 || c.GetCertificate != nil || c.GetConfigForClient != nil
}

// badPermission returns the first subject of p that is not valid, or "".
func badPermission(p *server.Permissions) string {
	if p == nil {
		return ""
	}
	for _, sp := range []*server.SubjectPermission{p.Publish, p.Subscribe} {
		if sp == nil {
			continue
		}
		for _, subj := range append(append([]string(nil), sp.Allow...), sp.Deny...) {
			// A subscribe permission may name a queue: "subject queue".
			if s, _, _ := strings.Cut(subj, " "); !server.IsValidSubject(s) {
				return subj
			}
		}
	}
	return ""
}
