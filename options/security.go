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

// SecretBytes is how many random bytes a Secret (and an AcceptedSecrets
// entry) must hold at least, base64-encoded, as NewSecret makes them.
const SecretBytes = 32

// MinCredentialLength is the shortest password or token Normalize
// accepts for a client login, in bytes.
const MinCredentialLength = 8

// User is a client login: a name, its password and, optionally, what the
// user may publish and subscribe to. Its String, GoString and LogValue
// methods mask the password, so printing or logging a User shows no
// secret.
type User struct {
	// Name is the login name; it must not be empty or hold spaces or
	// control characters.
	Name string
	// Password is the user's password, MinCredentialLength (8) bytes or
	// more; a bcrypt hash ("$2a$...") is accepted as nats-server does.
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

// NewSecret returns a random secret for Options.Secret: SecretBytes bytes
// from crypto/rand, base64url-encoded (43 characters).
func NewSecret() string {
	b := make([]byte, SecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkSecret refuses a secret that is not SecretBytes or more bytes,
// base64-encoded (standard or URL alphabet, padded or not). A secret is a
// key, not a password: anyone who can reach a route port can fetch a
// node's certificate and test guesses against it offline, so it must not
// be guessable. (Serf and memberlist ask the same of their keys.) The
// error tells the secret's length only.
func checkSecret(s string) error {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) < SecretBytes {
				return fmt.Errorf("decodes to %d bytes, want at least %d random bytes, base64-encoded (options.NewSecret makes one)", len(b), SecretBytes)
			}
			return nil
		}
	}
	return fmt.Errorf("is not base64: want at least %d random bytes, base64-encoded (options.NewSecret makes one)", SecretBytes)
}

// masked stands for a secret's value in a FieldError: its length only.
type masked int

func (m masked) GoString() string { return fmt.Sprintf("<%d bytes, not shown>", int(m)) }

// checkSecurity checks the security options: secrets long enough, one
// kind of route TLS, TLS configs that hold a certificate, users that can
// log in. No error holds a secret or a password.
func (o Options) checkSecurity() []error {
	var errs []error
	if o.Secret != "" {
		if err := checkSecret(o.Secret); err != nil {
			errs = append(errs, &FieldError{Field: "Secret", Value: masked(len(o.Secret)), Err: err})
		}
	}
	for i, s := range o.AcceptedSecrets {
		if err := checkSecret(s); err != nil {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("AcceptedSecrets[%d]", i), Value: masked(len(s)), Err: err})
		}
	}
	if o.Token != "" && len(o.Token) < MinCredentialLength {
		errs = append(errs, fieldErr("Token", masked(len(o.Token)), "must be at least %d bytes", MinCredentialLength))
	}
	if len(o.AcceptedSecrets) > 0 && o.Secret == "" {
		errs = append(errs, &FieldError{Field: "AcceptedSecrets", Value: fmt.Sprintf("<%d secrets, not shown>", len(o.AcceptedSecrets)),
			Err: mentionErr("needs %s: it only widens whom a node with a secret accepts", "Secret")})
	}
	if o.RouteTLS != nil {
		switch {
		case o.Secret != "":
			errs = append(errs, &FieldError{Field: "RouteTLS", Value: "set", Err: mentionErr("set %s or %s, not both", "Secret", "RouteTLS")})
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
		nameErr := checkToken(u.Name)
		switch {
		case u.Name == "":
			errs = append(errs, fieldErr(field+".Name", u.Name, "must not be empty"))
		case nameErr != nil:
			errs = append(errs, &FieldError{Field: field + ".Name", Value: u.Name, Err: nameErr})
		case len(u.Password) < MinCredentialLength:
			errs = append(errs, fieldErr(field+".Password", masked(len(u.Password)), "must be at least %d bytes", MinCredentialLength))
		case names[u.Name] != "":
			errs = append(errs, &FieldError{Field: field + ".Name", Value: u.Name,
				Err: mentionErr("is also the name of %s: each login needs a name of its own", names[u.Name])})
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
