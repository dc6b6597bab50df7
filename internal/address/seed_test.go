package address_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/address"
)

func TestParseSeed(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		scheme   string
		host     string // u.Host, host:port
		user     string
		password string
	}{
		{name: "nats", raw: "nats://localhost:4248", scheme: "nats", host: "localhost:4248"},
		{name: "nats-route", raw: "nats-route://10.0.0.5:4248", scheme: "nats-route", host: "10.0.0.5:4248"},
		{name: "IPv6", raw: "nats://[::1]:4248", scheme: "nats", host: "[::1]:4248"},
		{name: "user and password", raw: "nats://ruser:T0pS3cr3t@localhost:4248", scheme: "nats", host: "localhost:4248", user: "ruser", password: "T0pS3cr3t"},
		{name: "user only", raw: "nats://ruser@localhost:4248", scheme: "nats", host: "localhost:4248", user: "ruser"},
		{name: "trailing slash", raw: "nats://localhost:4248/", scheme: "nats", host: "localhost:4248"},
		{name: "spaces around", raw: "  nats://localhost:4248 ", scheme: "nats", host: "localhost:4248"},
		{name: "scheme in capitals", raw: "NATS://localhost:4248", scheme: "nats", host: "localhost:4248"},
		{name: "port 1", raw: "nats://h:1", scheme: "nats", host: "h:1"},
		{name: "port 65535", raw: "nats://h:65535", scheme: "nats", host: "h:65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := address.ParseSeed(tt.raw)
			require.NoError(t, err)
			assert.Equal(t, tt.scheme, u.Scheme)
			assert.Equal(t, tt.host, u.Host)
			assert.Equal(t, tt.user, u.User.Username())
			pass, _ := u.User.Password()
			assert.Equal(t, tt.password, pass)
		})
	}
}

func TestParseSeedErrors(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantMsg string // the message contains it, besides the URL
	}{
		{name: "empty", raw: "", wantMsg: "no scheme"},
		{name: "no scheme, host name", raw: "localhost:4248", wantMsg: "no scheme"},
		{name: "no scheme, IP", raw: "10.0.0.5:4248", wantMsg: "no scheme"},
		{name: "no scheme, IPv6", raw: "[::1]:4248", wantMsg: "no scheme"},
		{name: "empty scheme", raw: "://localhost:4248", wantMsg: "missing protocol scheme"},
		{name: "scheme http", raw: "http://localhost:4248", wantMsg: `scheme "http", want nats or nats-route`},
		{name: "scheme tls", raw: "tls://localhost:4248", wantMsg: `scheme "tls"`},
		{name: "missing port", raw: "nats://localhost", wantMsg: "missing port"},
		{name: "empty port", raw: "nats://localhost:", wantMsg: `port ""`},
		{name: "port 0", raw: "nats://localhost:0", wantMsg: `port "0", want 1-65535`},
		{name: "port 65536", raw: "nats://localhost:65536", wantMsg: `port "65536"`},
		{name: "port -1", raw: "nats://localhost:-1", wantMsg: "invalid port"},
		{name: "port not a number", raw: "nats://localhost:abc", wantMsg: "invalid port"},
		{name: "no host", raw: "nats://:4248", wantMsg: "no host"},
		{name: "path", raw: "nats://localhost:4248/routes", wantMsg: "path"},
		{name: "query", raw: "nats://localhost:4248?x=1", wantMsg: "query"},
		{name: "fragment", raw: "nats://localhost:4248#x", wantMsg: "fragment"},
		{name: "two URLs", raw: "nats://a:1,nats://b:2", wantMsg: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := address.ParseSeed(tt.raw)
			require.Error(t, err)
			assert.Nil(t, u)
			assert.ErrorIs(t, err, address.ErrSeed)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.Contains(t, err.Error(), `"`+tt.raw+`"`)
		})
	}
}

// TestParseSeedNeverShowsThePassword: whatever is wrong with a seed URL,
// its password stays out of the error.
func TestParseSeedNeverShowsThePassword(t *testing.T) {
	// Passwords holding "#", "/", "?" or "@" once reached errors through
	// url.Parse's own messages (`invalid port ":s3cret"`).
	for _, raw := range []string{
		"nats://ruser:s3cret@host:abc", "nats://ruser:s3cret@host", "http://ruser:s3cret@host:4248", "nats://ruser:s3cret@:4248",
		"nats://ruser:s3cret#x@host:abc", "nats://ruser:s3cret/x@host:abc", "nats://ruser:s3cret?x@host:abc",
		"nats://ruser:s3cret#x@host", "nats://ruser:s3cret/x@host:4248/path", "nats://ruser:s3c@ret@host:0",
		"ruser:s3cret@host:4248", "ruser:s3cret#x@host:4248", "nats://ruser:s3cret%zz@host:abc", "nats://:s3cret@host:4248",
		"nats://s3cret@host:abc", "nats://s3cret#x@host",
		"nats://ruser:s3cret#x@[::1:4248",
	} {
		_, err := address.ParseSeed(raw)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "s3cret", raw)
		assert.NotContains(t, address.Redact(raw), "s3cret", raw)
	}
}

func TestParseSeedOddPasswords(t *testing.T) {
	for _, tc := range []struct{ raw, user, password, host string }{
		{"nats://u:p#x@h:4248", "u", "p#x", "h:4248"},
		{"nats://u:p/x?y@h:4248", "u", "p/x?y", "h:4248"},
		{"nats://u:p@x@h:4248", "u", "p@x", "h:4248"},
		{"nats://u:p%40x@h:4248", "u", "p@x", "h:4248"},
		{"nats://u@h:4248", "u", "", "h:4248"},
	} {
		u, err := address.ParseSeed(tc.raw)
		require.NoError(t, err, tc.raw)
		pw, _ := u.User.Password()
		assert.Equal(t, []string{tc.user, tc.password, tc.host}, []string{u.User.Username(), pw, u.Host}, tc.raw)
		assert.NotContains(t, u.Redacted(), "p#x", tc.raw)
	}
}

func TestParseSeeds(t *testing.T) {
	type bad struct {
		extra    int
		redacted string
	}
	tests := []struct {
		name  string
		seed  string
		extra []string
		hosts []string // u.Host of each URL, in order
		users []string // u.User.Username() of each URL
		bad   []bad
	}{
		{name: "none"},
		{name: "seed only", seed: "nats://a:1", hosts: []string{"a:1"}, users: []string{""}},
		{name: "extra only", extra: []string{"nats://a:1", "nats://b:2"}, hosts: []string{"a:1", "b:2"}, users: []string{"", ""}},
		{
			name: "seed first, then extra in order", seed: "nats://c:3", extra: []string{"nats://a:1", "nats-route://u:p@b:2"},
			hosts: []string{"c:3", "a:1", "b:2"}, users: []string{"", "", "u"},
		},
		{
			name: "duplicates kept", seed: "nats://a:1", extra: []string{"nats://a:1", "nats://a:1"},
			hosts: []string{"a:1", "a:1", "a:1"}, users: []string{"", "", ""},
		},
		{
			name: "every bad seed reported, the good ones kept", seed: "http://x:1",
			extra: []string{"nats://a:1", "nats://u:s3cret@b", "nats://c:3"},
			hosts: []string{"a:1", "c:3"}, users: []string{"", ""},
			bad: []bad{{-1, "http://x:1"}, {1, "nats://u:xxxxx@b"}},
		},
		{name: "an empty extra seed is refused", extra: []string{""}, bad: []bad{{0, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			urls, errs := address.ParseSeeds(tt.seed, tt.extra)
			var hosts, users []string
			for _, u := range urls {
				hosts = append(hosts, u.Host)
				users = append(users, u.User.Username())
			}
			assert.Equal(t, tt.hosts, hosts)
			assert.Equal(t, tt.users, users)
			require.Len(t, errs, len(tt.bad))
			for i, e := range errs {
				assert.Equal(t, tt.bad[i].extra, e.Extra)
				assert.Equal(t, tt.bad[i].redacted, e.Redacted)
				assert.ErrorIs(t, e, address.ErrSeed)
				assert.NotContains(t, e.Error(), "s3cret")
			}
		})
	}
}

// TestParseSeedsAgreesWithParseSeed checks that ParseSeeds gives, seed by
// seed, what ParseSeed gives, password included.
func TestParseSeedsAgreesWithParseSeed(t *testing.T) {
	raw := []string{"nats://u:p#x@h:4248", " nats://a:1 ", "NATS://b:2/"}
	urls, errs := address.ParseSeeds(raw[0], raw[1:])
	require.Empty(t, errs)
	require.Len(t, urls, len(raw))
	for i, r := range raw {
		want, err := address.ParseSeed(r)
		require.NoError(t, err)
		assert.Equal(t, want, urls[i], r)
	}
}
