package options_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/options"
)

// TestSecurityFieldErrors: bad security options are field errors naming
// the field, and no error holds a secret or a password.
func TestSecurityFieldErrors(t *testing.T) {
	secret := options.NewSecret()
	cert := tls.Certificate{Certificate: [][]byte{{1}}}
	tests := []struct {
		name  string
		opts  options.Options
		field string
		msg   string
	}{
		{"short secret", options.Options{Secret: "s3cret"}, "Secret", "at least 32"},
		{"a password, not a key", options.Options{Secret: "s3cret correct horse battery staple s3cret"}, "Secret", "not base64"},
		{"a short key", options.Options{Secret: "czNjcmV0czNjcmV0czNjcmV0"}, "Secret", "decodes to 18 bytes"},
		{"short accepted secret", options.Options{Secret: secret, AcceptedSecrets: []string{"s3cret"}}, "AcceptedSecrets[0]", "at least 32"},
		{"short token", options.Options{Token: "s3cret"}, "Token", "at least 8"},
		{"short password", options.Options{Users: []options.User{{Name: "a", Password: "s3cret"}}}, "Users[0].Password", "at least 8"},
		{"accepted without secret", options.Options{AcceptedSecrets: []string{secret}}, "AcceptedSecrets", "needs Secret"},
		{"secret and route TLS", options.Options{Secret: secret, RouteTLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, "RouteTLS", "not both"},
		{"route TLS without certificate", options.Options{RouteTLS: &tls.Config{}}, "RouteTLS", "no certificate"},
		{"route TLS without authority", options.Options{RouteTLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, "RouteTLS", "no authority"},
		{"client TLS without certificate", options.Options{ClientTLS: &tls.Config{}}, "ClientTLS", "no certificate"},
		{"user without name", options.Options{Users: []options.User{{Password: secret}}}, "Users[0].Name", "empty"},
		{"user without password", options.Options{Users: []options.User{{Name: "a"}}}, "Users[0].Password", "at least 8"},
		{"user name with space", options.Options{Users: []options.User{{Name: "a b", Password: secret}}}, "Users[0].Name", "spaces"},
		{"two users of one name", options.Options{Users: []options.User{{Name: "a", Password: secret}, {Name: "a", Password: secret}}}, "Users[1].Name", "Users[0]"},
		{"system user named as a user", options.Options{Users: []options.User{{Name: "op", Password: secret}}, SystemUser: options.User{Name: "op", Password: secret}}, "SystemUser.Name", "Users[0]"},
		{"system user without name", options.Options{SystemUser: options.User{Password: secret}}, "SystemUser.Name", "empty"},
		{"bad permission subject", options.Options{Users: []options.User{{Name: "a", Password: secret, Permissions: &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{"a..b"}}}}}}, "Users[0].Permissions", "not a valid subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.Normalize()
			require.Error(t, err)
			assert.ErrorIs(t, err, options.ErrInvalid)
			var fe *options.FieldError
			require.True(t, errors.As(err, &fe))
			assert.Equal(t, tt.field, fe.Field)
			assert.Contains(t, err.Error(), tt.msg)
			assert.NotContains(t, err.Error(), "s3cret")
			assert.NotContains(t, err.Error(), "czNjcmV0")
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, b := options.NewSecret(), options.NewSecret()
	assert.NotEqual(t, a, b)
	assert.Len(t, a, 43)
	_, err := options.Options{Secret: a, AcceptedSecrets: []string{b}}.Normalize()
	assert.NoError(t, err)
}

// TestUserNeverPrintsItsPassword: every way of printing a User masks its
// password.
func TestUserNeverPrintsItsPassword(t *testing.T) {
	u := options.User{Name: "alice", Password: "pw-s3cret"}
	for _, s := range []string{fmt.Sprint(u), fmt.Sprintf("%v %+v %#v %s", u, u, u, u), fmt.Sprint([]options.User{u}), fmt.Sprintf("%+v", options.Options{Users: []options.User{u}, SystemUser: u})} {
		assert.NotContains(t, s, "s3cret")
		assert.True(t, strings.Contains(s, "alice"), s)
	}
}
