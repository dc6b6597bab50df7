package options_test

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natsmesh/natsmesh/internal/testpki"
	"github.com/natsmesh/natsmesh/options"
)

func TestFromArgs(t *testing.T) {
	tests := []struct {
		name string
		args string
		want options.Options
	}{
		{name: "no flags", args: "", want: options.Options{}},
		{
			name: "seed node A",
			args: "-p 4222 -cluster nats://localhost:4248",
			want: options.Options{Port: 4222, ClusterHost: "localhost", ClusterPort: 4248},
		},
		{
			name: "seed node B",
			args: "-p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248",
			want: options.Options{Port: 5222, ClusterHost: "localhost", ClusterPort: 5248, Seed: "nats://localhost:4248"},
		},
		{
			name: "seed node C",
			args: "-p 6222 -cluster nats://localhost:6248 -routes nats://localhost:4248",
			want: options.Options{Port: 6222, ClusterHost: "localhost", ClusterPort: 6248, Seed: "nats://localhost:4248"},
		},
		{
			name: "double dashes and equals signs",
			args: "--port=4222 --cluster=nats://127.0.0.1:4248 --routes=nats://a:1,nats://b:2,nats://c:3",
			want: options.Options{
				Port: 4222, ClusterHost: "127.0.0.1", ClusterPort: 4248,
				Seed: "nats://a:1", ExtraSeeds: []string{"nats://b:2", "nats://c:3"},
			},
		},
		{
			name: "a blank between commas",
			args: "-routes nats://a:1,~,nats://b:2",
			want: options.Options{Seed: "nats://a:1", ExtraSeeds: []string{"nats://b:2"}},
		},
		{
			name: "comma in a route's password",
			args: "--routes nats://u:p,q@h:1,nats://b:2",
			want: options.Options{Seed: "nats://u:p,q@h:1", ExtraSeeds: []string{"nats://b:2"}},
		},
		{
			name: "short aliases",
			args: "-n a -a 10.0.0.1 -p 1 --routes nats://a:1",
			want: options.Options{Name: "a", Host: "10.0.0.1", Port: 1, Seed: "nats://a:1"},
		},
		{
			name: "long aliases",
			args: "--server_name b --net 0.0.0.0 --cluster_listen nats-route://0.0.0.0:2 --cluster_name orders",
			want: options.Options{Name: "b", Host: "0.0.0.0", ClusterHost: "0.0.0.0", ClusterPort: 2, Cluster: "orders"},
		},
		{
			name: "name and addr",
			args: "--name c --addr localhost",
			want: options.Options{Name: "c", Host: "localhost"},
		},
		{
			name: "random ports as nats-server writes them",
			args: "-p -1 -cluster nats://localhost:-1",
			want: options.Options{Port: -1, ClusterHost: "localhost", ClusterPort: -1},
		},
		{
			name: "port zero",
			args: "-p 0 -cluster nats://localhost:0",
			want: options.Options{ClusterHost: "localhost"},
		},
		{
			name: "highest port",
			args: "-p 65535",
			want: options.Options{Port: 65535},
		},
		{
			name: "cluster URL with IPv6 host",
			args: "-cluster nats://[::1]:4248",
			want: options.Options{ClusterHost: "::1", ClusterPort: 4248},
		},
		{
			name: "cluster URL without host",
			args: "-cluster nats://:4248",
			want: options.Options{ClusterPort: 4248},
		},
		{
			name: "cluster URL with trailing slash",
			args: "-cluster nats://localhost:4248/",
			want: options.Options{ClusterHost: "localhost", ClusterPort: 4248},
		},
		{
			name: "routes with spaces and a trailing comma",
			args: "-routes nats://a:1,~nats://b:2,",
			want: options.Options{Seed: "nats://a:1", ExtraSeeds: []string{"nats://b:2"}},
		},
		{
			name: "route with credentials",
			args: "-routes nats://u:p@a:1",
			want: options.Options{Seed: "nats://u:p@a:1"},
		},
		{
			name: "empty routes start a new mesh",
			args: "-routes=",
			want: options.Options{},
		},
		{
			name: "empty cluster name means the default",
			args: "--cluster_name=",
			want: options.Options{},
		},
		{
			name: "empty name means generated",
			args: "-n=",
			want: options.Options{},
		},
		{
			name: "later flag wins",
			args: "-p 1 --port 2",
			want: options.Options{Port: 2},
		},
		{
			name: "go-sockaddr template as addr",
			args: `-a {{~GetAllInterfaces~|~include~"flag"~"loopback"~|~include~"type"~"IPv4"~|~attr~"address"~}}`,
			want: options.Options{Host: `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(split(tt.args))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestFromArgsNormalize checks that the seed's commands give options that
// Normalize accepts, with the seed parsed.
func TestFromArgsNormalize(t *testing.T) {
	o, err := options.FromArgs(split("-p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248,nats://localhost:6248"))
	require.NoError(t, err)
	n, err := o.Normalize()
	require.NoError(t, err)
	assert.Equal(t, "localhost", n.ClusterHost)
	assert.Equal(t, 5248, n.ClusterPort)
	seeds := parsedSeeds(t, n)
	require.Len(t, seeds, 2)
	assert.Equal(t, "localhost:4248", seeds[0].Host)
	assert.Equal(t, "localhost:6248", seeds[1].Host)
}

func TestFromArgsFieldErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		field   string
		value   string
		wantMsg string // further text the message must contain
	}{
		{name: "port not a number", args: "-p abc", field: "-p", value: "abc", wantMsg: "not a number"},
		{name: "port too high", args: "--port 65536", field: "--port", value: "65536", wantMsg: "65535"},
		{name: "port below -1", args: "-p -2", field: "-p", value: "-2", wantMsg: "-1"},
		{name: "port empty", args: "-p=", field: "-p", value: ""},
		{name: "routes scheme http", args: "--routes http://localhost:4248", field: "--routes", value: "http://localhost:4248", wantMsg: `scheme "http"`},
		{name: "second route bad", args: "-routes nats://a:1,http://b:2", field: "-routes", value: "http://b:2", wantMsg: "http"},
		{name: "route without port", args: "--routes nats://localhost", field: "--routes", value: "nats://localhost", wantMsg: "port"},
		{name: "route without scheme", args: "-routes localhost:4248", field: "-routes", value: "localhost:4248", wantMsg: "scheme"},
		{name: "cluster without scheme", args: "-cluster localhost:4248", field: "-cluster", value: "localhost:4248", wantMsg: "nats://"},
		{name: "cluster scheme http", args: "-cluster http://localhost:4248", field: "-cluster", value: "http://localhost:4248", wantMsg: `scheme "http"`},
		{name: "cluster without port", args: "-cluster nats://localhost", field: "-cluster", value: "nats://localhost", wantMsg: "port"},
		{name: "cluster port too high", args: "-cluster nats://localhost:70000", field: "-cluster", value: "nats://localhost:70000", wantMsg: "70000"},
		{name: "cluster port not a number", args: "-cluster nats://localhost:x", field: "-cluster", value: "nats://localhost:x", wantMsg: "port"},
		{name: "cluster with credentials", args: "-cluster nats://u:p@localhost:4248", field: "-cluster", value: "nats://u:xxxxx@localhost:4248", wantMsg: "password"},
		{name: "cluster with odd password", args: "-cluster nats://u:s3cret#x@localhost:4248", field: "-cluster", value: "nats://u:xxxxx@localhost:4248", wantMsg: "password"},
		{name: "cluster with password and slash", args: "-cluster nats://u:s3cret/x@localhost:4248", field: "-cluster", value: "nats://u:xxxxx@localhost:4248", wantMsg: "password"},
		{name: "route with odd password", args: "--routes nats://u:s3cret#x@localhost:abc", field: "--routes", value: "nats://u:xxxxx@localhost:abc", wantMsg: "port"},
		{name: "route with a comma in its password", args: "--routes nats://u:s3cret,x@localhost:abc", field: "--routes", value: "nats://u:xxxxx@localhost:abc", wantMsg: "port"},
		{name: "route with a comma in its token", args: "--routes nats://a:1,nats://s3cret,x@localhost:abc", field: "--routes", value: "nats://xxxxx@localhost:abc", wantMsg: "port"},
		{name: "route after a URL without scheme", args: "--routes nats://a:1,b:2", field: "--routes", value: "nats://a:1,b:2", wantMsg: "port"},
		{name: "cluster with path", args: "-cluster nats://localhost:4248/x", field: "-cluster", value: "nats://localhost:4248/x", wantMsg: "path"},
		{name: "cluster bad host", args: "-cluster nats://bad!host:4248", field: "-cluster", value: "nats://bad!host:4248"},
		{name: "cluster empty", args: "-cluster=", field: "-cluster", value: ""},
		{name: "port typed with one dash", args: "-port 99999", field: "-port", value: "99999", wantMsg: "65535"},
		{name: "the alias given last is named", args: "--port 1 -p x", field: "-p", value: "x", wantMsg: "not a number"},
		{name: "monitoring port too high", args: "-m 65536", field: "-m", value: "65536", wantMsg: "65535"},
		{name: "cluster URL with bad template", args: "--cluster nats://{{~GetNoSuchThing~}}:4248", field: "--cluster", value: "nats://{{ GetNoSuchThing }}:4248", wantMsg: "template"},
		{name: "cluster_name with space", args: "--cluster_name a~b", field: "--cluster_name", value: "a b", wantMsg: "space"},
		{name: "name with space", args: "-n a~b", field: "-n", value: "a b", wantMsg: "space"},
		{name: "addr bad host", args: "-a bad!host", field: "-a", value: "bad!host"},
		{name: "addr host and port", args: "--addr localhost:4222", field: "--addr", value: "localhost:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(split(tt.args))
			require.Error(t, err)
			assert.Zero(t, got)
			assert.ErrorIs(t, err, options.ErrInvalid)
			var fe *options.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.Equal(t, tt.value, fe.Value)
			msg := err.Error()
			assert.Contains(t, msg, tt.field)
			assert.Contains(t, msg, fmt.Sprintf("%q", tt.value))
			assert.Contains(t, msg, tt.wantMsg)
			assert.NotContains(t, msg, "s3cret")
		})
	}
}

func TestFromArgsOtherErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     string
		wantHelp bool
		wantMsg  string
	}{
		{name: "-h", args: "-h", wantHelp: true},
		{name: "--help", args: "--help", wantHelp: true},
		{name: "-help after flags", args: "-p 4222 -help", wantHelp: true},
		{name: "unknown flag", args: "-p 4222 --no_such_flag", wantMsg: "-no_such_flag"},
		{name: "unknown nats-server flag", args: "-c nats.conf", wantMsg: "-c"},
		{name: "stray argument", args: "-p 4222 extra", wantMsg: "argument 3 of 3"},
		{name: "stray argument after --", args: "-p 4222 -- -x", wantMsg: "argument 4 of 4"},
		{name: "stray secret", args: "--user alice s3cret-pass", wantMsg: "not shown"},
		{name: "bad flag syntax holding a secret", args: "---auth=s3cret-token", wantMsg: "bad flag syntax: ---auth=xxxxx"},
		{name: "bad boolean holding a secret", args: "--tls=s3cret", wantMsg: `"xxxxx"`},
		{name: "flag without value", args: "-p 4222 -cluster", wantMsg: "-cluster"},
		{name: "routes without value", args: "-routes", wantMsg: "-routes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(split(tt.args))
			require.Error(t, err)
			assert.Zero(t, got)
			assert.NotContains(t, err.Error(), "s3cret")
			if tt.wantHelp {
				assert.ErrorIs(t, err, flag.ErrHelp)
				assert.NotErrorIs(t, err, options.ErrInvalid)
				return
			}
			assert.NotErrorIs(t, err, flag.ErrHelp)
			assert.ErrorIs(t, err, options.ErrInvalid)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

// TestFromArgsSeveralErrors checks that every bad flag is reported, not only
// the first.
func TestFromArgsSeveralErrors(t *testing.T) {
	// Errors of form (the URL) and of value (the port, the name) alike.
	_, err := options.FromArgs(split("--port 99999 -cluster http://x:1 --cluster_name a~b"))
	require.Error(t, err)
	assert.ErrorIs(t, err, options.ErrInvalid)
	var fe *options.FieldError
	require.ErrorAs(t, err, &fe)
	for _, s := range []string{"--port=\"99999\"", "-cluster=\"http://x:1\"", "--cluster_name=\"a b\""} {
		assert.Contains(t, err.Error(), s)
	}
	assert.Equal(t, 3, strings.Count(err.Error(), "natsmesh: invalid option"), err.Error())
}

func TestUsage(t *testing.T) {
	words := map[string]bool{}
	for _, w := range strings.Fields(options.Usage()) {
		words[strings.TrimSuffix(w, ",")] = true
	}
	for _, f := range []string{
		"-n", "--name", "--server_name", "-a", "--addr", "--net", "-p", "--port",
		"--cluster", "--cluster_listen", "--cluster_name", "--routes", "-h", "--help",
		"--client_advertise", "--cluster_advertise", "-m", "--http_port",
		"--secret_file", "--accepted_secrets_file", "--cluster_tlscert", "--cluster_tlskey", "--cluster_tlscacert",
		"--user", "--pass", "--pass_file", "--auth", "--auth_file", "--tls", "--tlscert", "--tlskey",
		"--tlscacert", "--tlsverify", "--system_user", "--system_pass_file",
	} {
		t.Run(f, func(t *testing.T) {
			assert.True(t, words[f], "Usage does not list %s", f)
		})
	}
	for _, v := range []string{options.EnvSecret, options.EnvAcceptedSecrets, options.EnvPass, options.EnvAuth, options.EnvSystemPass} {
		t.Run(v, func(t *testing.T) {
			assert.Contains(t, options.Usage(), v)
		})
	}
}

// split turns a command line into arguments at spaces; a tilde stands for
// a space inside one argument.
func split(s string) []string {
	if s == "" {
		return nil
	}
	args := strings.Fields(s)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "~", " ")
	}
	return args
}

// TestFromArgsAdvertiseAndMonitor covers the flags for meshes that span
// hosts and for monitoring.
func TestFromArgsAdvertiseAndMonitor(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want options.Options
	}{
		{"advertise", []string{"-a", "0.0.0.0", "--client_advertise", "10.0.0.5", "--cluster_advertise", "10.0.0.5:4248"},
			options.Options{Host: "0.0.0.0", ClientAdvertise: "10.0.0.5", ClusterAdvertise: "10.0.0.5:4248"}},
		{"monitor", []string{"-m", "8222"}, options.Options{Monitor: true, MonitorPort: 8222}},
		{"monitor free port", []string{"--http_port", "-1"}, options.Options{Monitor: true, MonitorPort: -1}},
		{"template in cluster URL", []string{"--cluster", `nats://{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}:4248`},
			options.Options{ClusterHost: `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`, ClusterPort: 4248}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgs(tt.args)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := options.FromArgs([]string{"--cluster_advertise", "0.0.0.0:4248"})
	require.ErrorIs(t, err, options.ErrInvalid)
	assert.ErrorContains(t, err, "--cluster_advertise")
}

// Every secret, password and token the security tests use holds "s3cret",
// which no error may show.
const (
	testSecret    = "s3cret-0123456789abcdef0123456789abcdefABCDE" // 32 bytes, base64url
	testSecret2   = "s3cret-fedcba9876543210fedcba9876543210EDCBA"
	testPass      = "s3cret-pass"
	testToken     = "s3cret-token"
	testSysPass   = "s3cret-operator"
	secretMarker  = "s3cret"
	shortSecret   = "s3cret-short" // 12 bytes
	maskedPrefix  = "bytes, not shown>"
	noSuchFileMsg = "no such file"
)

// securityFiles writes the files the security flag tests read into a new
// directory and returns it: secrets, passwords, and a CA, a certificate
// and its key, made now (no key is committed).
func securityFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("secret", testSecret+"\n")
	write("secret-crlf", testSecret+"\r\n")
	write("secret2", testSecret2)
	write("accepted", testSecret2+"\n\n"+testSecret+"\r\n")
	write("accepted-short", testSecret2+"\n"+shortSecret+"\n")
	write("short", shortSecret+"\n")
	write("empty", "")
	write("newlines", "\n\n")
	write("two-lines", testSecret+"\n"+testSecret2+"\n")
	write("pass", testPass+"\n")
	write("token", testToken+"\n")
	write("syspass", testSysPass)

	ca, err := testpki.New("test CA")
	require.NoError(t, err)
	// cert.pem and cert-key.pem, and other-key.pem, which does not match it.
	require.NoError(t, ca.WritePEM(dir, "cert", "other"))
	write("bad-cert.pem", "-----BEGIN CERTIFICATE-----\nczNjcmV0\n-----END CERTIFICATE-----\n") // "s3cret", not DER
	return dir
}

// expand replaces $D in a command line with dir and splits it as split does.
func expand(args, dir string) []string {
	return split(strings.ReplaceAll(args, "$D", dir))
}

// envOf returns a lookupEnv over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestFromArgsSecurity(t *testing.T) {
	dir := securityFiles(t)
	tests := []struct {
		name  string
		args  string
		env   map[string]string
		check func(t *testing.T, o options.Options)
	}{
		{name: "secret file", args: "--secret_file $D/secret", check: func(t *testing.T, o options.Options) {
			assert.Equal(t, testSecret, o.Secret)
		}},
		{name: "secret file with CRLF", args: "--secret_file $D/secret-crlf", check: func(t *testing.T, o options.Options) {
			assert.Equal(t, testSecret, o.Secret)
		}},
		{name: "secret from the environment", env: map[string]string{options.EnvSecret: testSecret}, check: func(t *testing.T, o options.Options) {
			assert.Equal(t, testSecret, o.Secret)
		}},
		{name: "empty variables count as unset", env: map[string]string{options.EnvSecret: "", options.EnvPass: "", options.EnvAuth: ""}, check: func(t *testing.T, o options.Options) {
			assert.Zero(t, o)
		}},
		{name: "accepted secrets file", args: "--secret_file $D/secret --accepted_secrets_file $D/accepted", check: func(t *testing.T, o options.Options) {
			assert.Equal(t, testSecret, o.Secret)
			assert.Equal(t, []string{testSecret2, testSecret}, o.AcceptedSecrets)
		}},
		{name: "a secret file is an accepted secrets file", args: "--secret_file $D/secret --accepted_secrets_file $D/secret2", check: func(t *testing.T, o options.Options) {
			assert.Equal(t, []string{testSecret2}, o.AcceptedSecrets)
		}},
		{name: "accepted secrets from the environment", env: map[string]string{options.EnvSecret: testSecret, options.EnvAcceptedSecrets: testSecret2 + ", " + testSecret + ","}, check: func(t *testing.T, o options.Options) {
			assert.Equal(t, []string{testSecret2, testSecret}, o.AcceptedSecrets)
		}},
		{name: "empty accepted secrets file", args: "--secret_file $D/secret --accepted_secrets_file $D/empty", check: func(t *testing.T, o options.Options) {
			assert.Empty(t, o.AcceptedSecrets)
		}},
		{name: "route TLS", args: "--cluster_tlscert $D/cert.pem --cluster_tlskey $D/cert-key.pem --cluster_tlscacert $D/ca.pem", check: func(t *testing.T, o options.Options) {
			require.NotNil(t, o.RouteTLS)
			assert.Len(t, o.RouteTLS.Certificates, 1)
			assert.NotNil(t, o.RouteTLS.RootCAs)
			assert.NotNil(t, o.RouteTLS.ClientCAs)
			assert.Equal(t, tls.RequireAndVerifyClientCert, o.RouteTLS.ClientAuth)
			assert.Empty(t, o.Secret)
			assert.Nil(t, o.ClientTLS)
		}},
		{name: "client TLS", args: "--tls --tlscert $D/cert.pem --tlskey $D/cert-key.pem", check: func(t *testing.T, o options.Options) {
			require.NotNil(t, o.ClientTLS)
			assert.Len(t, o.ClientTLS.Certificates, 1)
			assert.Equal(t, tls.NoClientCert, o.ClientTLS.ClientAuth)
			assert.Nil(t, o.RouteTLS)
		}},
		{name: "client TLS implied by --tlscert", args: "--tlscert $D/cert.pem --tlskey $D/cert-key.pem", check: func(t *testing.T, o options.Options) {
			assert.NotNil(t, o.ClientTLS)
		}},
		{name: "client certificates verified", args: "--tlsverify --tlscert=$D/cert.pem --tlskey=$D/cert-key.pem --tlscacert=$D/ca.pem", check: func(t *testing.T, o options.Options) {
			require.NotNil(t, o.ClientTLS)
			assert.Equal(t, tls.RequireAndVerifyClientCert, o.ClientTLS.ClientAuth)
			assert.NotNil(t, o.ClientTLS.ClientCAs)
		}},
		{name: "--tls=false turns client TLS off", args: "--tls=false --tlscert $D/missing.pem --tlsverify", check: func(t *testing.T, o options.Options) {
			assert.Nil(t, o.ClientTLS)
		}},
		{name: "user and password on the command line", args: "--user alice --pass " + testPass, check: func(t *testing.T, o options.Options) {
			assert.Equal(t, []options.User{{Name: "alice", Password: testPass}}, o.Users)
		}},
		{name: "user and password file", args: "--user alice --pass_file $D/pass", check: func(t *testing.T, o options.Options) {
			assert.Equal(t, []options.User{{Name: "alice", Password: testPass}}, o.Users)
		}},
		{name: "user and password from the environment", args: "--user alice", env: map[string]string{options.EnvPass: testPass}, check: func(t *testing.T, o options.Options) {
			assert.Equal(t, []options.User{{Name: "alice", Password: testPass}}, o.Users)
		}},
		{name: "token on the command line", args: "--auth " + testToken, check: func(t *testing.T, o options.Options) {
			assert.Equal(t, testToken, o.Token)
		}},
		{name: "token file", args: "--auth_file $D/token", check: func(t *testing.T, o options.Options) {
			assert.Equal(t, testToken, o.Token)
		}},
		{name: "token from the environment", env: map[string]string{options.EnvAuth: testToken}, check: func(t *testing.T, o options.Options) {
			assert.Equal(t, testToken, o.Token)
		}},
		{name: "system user", args: "--system_user op --system_pass_file $D/syspass", check: func(t *testing.T, o options.Options) {
			assert.Equal(t, options.User{Name: "op", Password: testSysPass}, o.SystemUser)
			assert.Empty(t, o.Users)
		}},
		{name: "system user from the environment", args: "--system_user op", env: map[string]string{options.EnvSystemPass: testSysPass}, check: func(t *testing.T, o options.Options) {
			assert.Equal(t, options.User{Name: "op", Password: testSysPass}, o.SystemUser)
		}},
		{name: "everything", args: "-p 4222 --secret_file $D/secret --accepted_secrets_file $D/secret2 --user alice --pass_file $D/pass " +
			"--auth_file $D/token --tlscert $D/cert.pem --tlskey $D/cert-key.pem --system_user op --system_pass_file $D/syspass",
			check: func(t *testing.T, o options.Options) {
				assert.Equal(t, 4222, o.Port)
				assert.Equal(t, testSecret, o.Secret)
				assert.Len(t, o.Users, 1)
				assert.Equal(t, testToken, o.Token)
				assert.NotNil(t, o.ClientTLS)
				assert.Equal(t, "op", o.SystemUser.Name)
				// What the flags give, Normalize accepts.
				_, err := o.Normalize()
				assert.NoError(t, err)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgsEnv(expand(tt.args, dir), envOf(tt.env))
			require.NoError(t, err)
			tt.check(t, got)
		})
	}
}

// TestFromArgsIgnoresEnvironment checks that FromArgs reads no variable:
// only FromArgsEnv does.
func TestFromArgsIgnoresEnvironment(t *testing.T) {
	t.Setenv(options.EnvSecret, testSecret)
	t.Setenv(options.EnvAuth, testToken)
	got, err := options.FromArgs(nil)
	require.NoError(t, err)
	assert.Zero(t, got)
}

func TestFromArgsSecurityErrors(t *testing.T) {
	dir := securityFiles(t)
	tlsFlags := "--cluster_tlscert $D/cert.pem --cluster_tlskey $D/cert-key.pem --cluster_tlscacert $D/ca.pem"
	tests := []struct {
		name    string
		args    string
		env     map[string]string
		field   string
		value   string // as the message shows it: a quoted path, or a length
		wantMsg string
	}{
		{name: "secret file missing", args: "--secret_file $D/missing", field: "--secret_file", value: `"$D/missing"`, wantMsg: noSuchFileMsg},
		{name: "secret file empty", args: "--secret_file $D/empty", field: "--secret_file", value: `"$D/empty"`, wantMsg: "empty"},
		{name: "secret file of newlines", args: "--secret_file $D/newlines", field: "--secret_file", value: `"$D/newlines"`, wantMsg: "empty"},
		{name: "secret file path empty", args: "--secret_file=", field: "--secret_file", value: `""`, wantMsg: "must name a file"},
		{name: "secret file a directory", args: "--secret_file $D", field: "--secret_file", value: `"$D"`, wantMsg: "directory"},
		{name: "secret too short", args: "--secret_file $D/short", field: "--secret_file", value: `"$D/short"`, wantMsg: "decodes to 9 bytes, want at least 32"},
		{name: "secret file of two lines", args: "--secret_file $D/two-lines", field: "--secret_file", value: `"$D/two-lines"`, wantMsg: "more than one line"},
		{name: "secret file and variable", args: "--secret_file $D/secret", env: map[string]string{options.EnvSecret: testSecret2}, field: options.EnvSecret, value: "<44 " + maskedPrefix, wantMsg: "not several"},
		{name: "secret variable too short", env: map[string]string{options.EnvSecret: shortSecret}, field: options.EnvSecret, value: "<12 " + maskedPrefix, wantMsg: "at least 32"},
		{name: "accepted secret too short", args: "--secret_file $D/secret --accepted_secrets_file $D/accepted-short", field: "--accepted_secrets_file", value: `"$D/accepted-short"`, wantMsg: "line 2 decodes to 9 bytes"},
		{name: "accepted secrets file missing", args: "--accepted_secrets_file $D/missing", field: "--accepted_secrets_file", value: `"$D/missing"`, wantMsg: noSuchFileMsg},
		{name: "accepted secrets file and variable", args: "--accepted_secrets_file $D/secret2", env: map[string]string{options.EnvAcceptedSecrets: testSecret}, field: options.EnvAcceptedSecrets, value: "<44 " + maskedPrefix, wantMsg: "not several"},
		{name: "accepted secret variable too short", env: map[string]string{options.EnvAcceptedSecrets: testSecret + "," + shortSecret}, field: options.EnvAcceptedSecrets, value: "<57 " + maskedPrefix, wantMsg: "secret 2 decodes to 9 bytes"},
		{name: "route TLS without key and CA", args: "--cluster_tlscert $D/cert.pem", field: "--cluster_tlskey", value: `""`, wantMsg: "--cluster_tlscacert"},
		{name: "route TLS without CA", args: "--cluster_tlscert $D/cert.pem --cluster_tlskey $D/cert-key.pem", field: "--cluster_tlscacert", value: `""`, wantMsg: "needs"},
		{name: "route TLS and secret", args: tlsFlags + " --secret_file $D/secret", field: "--cluster_tlscert", value: `"$D/cert.pem"`, wantMsg: "not both"},
		{name: "route TLS and secret variable", args: tlsFlags, env: map[string]string{options.EnvSecret: testSecret}, field: "--cluster_tlscert", value: `"$D/cert.pem"`, wantMsg: options.EnvSecret},
		{name: "route certificate is a key", args: "--cluster_tlscert $D/cert-key.pem --cluster_tlskey $D/cert-key.pem --cluster_tlscacert $D/ca.pem", field: "--cluster_tlscert", value: `"$D/cert-key.pem"`, wantMsg: "no PEM certificate"},
		{name: "route certificate is the secret file", args: "--cluster_tlscert $D/secret --cluster_tlskey $D/cert-key.pem --cluster_tlscacert $D/ca.pem", field: "--cluster_tlscert", value: `"$D/secret"`, wantMsg: "no PEM certificate"},
		{name: "route certificate not DER", args: "--cluster_tlscert $D/bad-cert.pem --cluster_tlskey $D/cert-key.pem --cluster_tlscacert $D/ca.pem", field: "--cluster_tlscert", value: `"$D/bad-cert.pem"`, wantMsg: "certificate 1"},
		{name: "route key is the secret file", args: "--cluster_tlscert $D/cert.pem --cluster_tlskey $D/secret --cluster_tlscacert $D/ca.pem", field: "--cluster_tlskey", value: `"$D/secret"`, wantMsg: "--cluster_tlscert"},
		{name: "route key does not match", args: "--cluster_tlscert $D/cert.pem --cluster_tlskey $D/other-key.pem --cluster_tlscacert $D/ca.pem", field: "--cluster_tlskey", value: `"$D/other-key.pem"`, wantMsg: "does not match"},
		{name: "route CA is the secret file", args: "--cluster_tlscert $D/cert.pem --cluster_tlskey $D/cert-key.pem --cluster_tlscacert $D/secret", field: "--cluster_tlscacert", value: `"$D/secret"`, wantMsg: "no PEM certificate"},
		{name: "route CA missing", args: "--cluster_tlscert $D/cert.pem --cluster_tlskey $D/cert-key.pem --cluster_tlscacert $D/missing", field: "--cluster_tlscacert", value: `"$D/missing"`, wantMsg: noSuchFileMsg},
		{name: "client TLS without certificate", args: "--tls", field: "--tlscert", value: `""`, wantMsg: "needs --tlscert and --tlskey"},
		{name: "client TLS without key", args: "--tlsverify --tlscert $D/cert.pem", field: "--tlskey", value: `""`, wantMsg: "needs"},
		{name: "client certificate missing", args: "--tlscert $D/missing --tlskey $D/cert-key.pem", field: "--tlscert", value: `"$D/missing"`, wantMsg: noSuchFileMsg},
		{name: "client key is the secret file", args: "--tlscert $D/cert.pem --tlskey $D/secret", field: "--tlskey", value: `"$D/secret"`, wantMsg: "key for --tlscert"},
		{name: "client CA is the password file", args: "--tlscert $D/cert.pem --tlskey $D/cert-key.pem --tlscacert $D/pass", field: "--tlscacert", value: `"$D/pass"`, wantMsg: "no PEM certificate"},
		{name: "user without password", args: "--user alice", field: "--user", value: `"alice"`, wantMsg: "needs a password"},
		{name: "user empty", args: "--user= --pass " + testPass, field: "--user", value: `""`, wantMsg: "empty"},
		{name: "user with space", args: "--user a~b --pass " + testPass, field: "--user", value: `"a b"`, wantMsg: "spaces"},
		{name: "password empty", args: "--user alice --pass=", field: "--pass", value: "<0 " + maskedPrefix, wantMsg: "empty"},
		{name: "password without user", args: "--pass " + testPass, field: "--pass", value: `""`, wantMsg: "--user, which is not given"},
		{name: "password variable without user", env: map[string]string{options.EnvPass: testPass}, field: options.EnvPass, value: `""`, wantMsg: "not given"},
		{name: "password flag and file", args: "--user alice --pass " + testPass + " --pass_file $D/pass", field: "--pass_file", value: `"$D/pass"`, wantMsg: "--pass, --pass_file"},
		{name: "password flag and variable", args: "--user alice --pass " + testPass, env: map[string]string{options.EnvPass: testPass}, field: options.EnvPass, value: "<11 " + maskedPrefix, wantMsg: "not several"},
		{name: "password file missing", args: "--user alice --pass_file $D/missing", field: "--pass_file", value: `"$D/missing"`, wantMsg: noSuchFileMsg},
		{name: "password file empty", args: "--user alice --pass_file $D/empty", field: "--pass_file", value: `"$D/empty"`, wantMsg: "empty"},
		{name: "token too short", args: "--auth s3cret1", field: "--auth", value: "<7 " + maskedPrefix, wantMsg: "at least 8 bytes"},
		{name: "password too short", args: "--user alice --pass s3cret1", field: "--pass", value: "<7 " + maskedPrefix, wantMsg: "at least 8 bytes"},
		{name: "accepted secrets without a secret", args: "--accepted_secrets_file $D/secret2", field: "--accepted_secrets_file", value: `"$D/secret2"`, wantMsg: "needs --secret_file"},
		{name: "token empty", args: "--auth=", field: "--auth", value: "<0 " + maskedPrefix, wantMsg: "empty"},
		{name: "token flag and variable", args: "--auth " + testToken, env: map[string]string{options.EnvAuth: testToken}, field: options.EnvAuth, value: "<12 " + maskedPrefix, wantMsg: "not several"},
		{name: "token file missing", args: "--auth_file $D/missing", field: "--auth_file", value: `"$D/missing"`, wantMsg: noSuchFileMsg},
		{name: "system user without password", args: "--system_user op", field: "--system_user", value: `"op"`, wantMsg: "needs a password"},
		{name: "system user empty", args: "--system_user= --system_pass_file $D/syspass", field: "--system_user", value: `""`, wantMsg: "empty"},
		{name: "system user named as user", args: "--user op --pass " + testPass + " --system_user op --system_pass_file $D/syspass", field: "--system_user", value: `"op"`, wantMsg: "name of its own"},
		{name: "system password without user", args: "--system_pass_file $D/syspass", field: "--system_pass_file", value: `""`, wantMsg: "not given"},
		{name: "system password file and variable", args: "--system_user op --system_pass_file $D/syspass", env: map[string]string{options.EnvSystemPass: testSysPass}, field: options.EnvSystemPass, value: "<15 " + maskedPrefix, wantMsg: "not several"},
		{name: "system password file of two lines", args: "--system_user op --system_pass_file $D/two-lines", field: "--system_pass_file", value: `"$D/two-lines"`, wantMsg: "more than one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.FromArgsEnv(expand(tt.args, dir), envOf(tt.env))
			require.Error(t, err)
			assert.Zero(t, got)
			assert.ErrorIs(t, err, options.ErrInvalid)
			var fe *options.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			msg := err.Error()
			assert.Contains(t, msg, tt.field)
			assert.Contains(t, msg, strings.ReplaceAll(tt.value, "$D", dir))
			assert.Contains(t, msg, tt.wantMsg)
			for _, form := range []string{msg, fmt.Sprintf("%#v", err), fmt.Sprintf("%+v", fe.Value), fmt.Sprintf("%v", fe.Err)} {
				assert.NotContains(t, form, secretMarker)
			}
		})
	}
}
