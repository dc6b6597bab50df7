package options_test

import (
	"errors"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/natsmesh/natsmesh/options"
)

// agreement is one way of writing an option: as flags (or variables) for
// FromArgsEnv, and as the Options they stand for, for Normalize.
type agreement struct {
	name string
	// flags returns the command line and variables that give v.
	flags func(v string) ([]string, map[string]string)
	// opts returns the Options the flags map to; ok false when v has no
	// Options form (a port that is not a number, an empty --auth), which
	// FromArgs must refuse.
	opts func(v string) (o options.Options, ok bool)
	// both: FromArgs accepts v exactly when Normalize accepts opts(v).
	// Otherwise only one way: what FromArgs accepts, Normalize accepts (v
	// is written into a URL whose syntax may refuse it first).
	both func(v string) bool
	// fields are the flags or variables its errors may name.
	fields []string
	// secret: v is a secret, which no error may show.
	secret bool
}

const fuzzPass = "fuzz-password-1"

var validSecret = options.NewSecret()

func always(string) bool { return true }

func port(v string) (int, bool) {
	p, err := strconv.Atoi(strings.TrimSpace(v))
	return p, err == nil
}

var agreements = []agreement{
	{name: "name", flags: flag1("--name"), opts: func(v string) (options.Options, bool) { return options.Options{Name: v}, true }, both: always, fields: []string{"--name"}},
	{name: "addr", flags: flag1("-a"), opts: func(v string) (options.Options, bool) { return options.Options{Host: v}, true }, both: always, fields: []string{"-a"}},
	{name: "cluster_name", flags: flag1("--cluster_name"), opts: func(v string) (options.Options, bool) { return options.Options{Cluster: v}, true }, both: always, fields: []string{"--cluster_name"}},
	{name: "client_advertise", flags: flag1("--client_advertise"), opts: func(v string) (options.Options, bool) { return options.Options{ClientAdvertise: v}, true }, both: always, fields: []string{"--client_advertise"}},
	{name: "cluster_advertise", flags: flag1("-cluster_advertise"), opts: func(v string) (options.Options, bool) { return options.Options{ClusterAdvertise: v}, true }, both: always, fields: []string{"-cluster_advertise"}},
	{name: "port", flags: flag1("-p"), opts: func(v string) (options.Options, bool) {
		p, ok := port(v)
		return options.Options{Port: p}, ok
	}, both: always, fields: []string{"-p"}},
	{name: "http_port", flags: flag1("--http_port"), opts: func(v string) (options.Options, bool) {
		p, ok := port(v)
		return options.Options{Monitor: true, MonitorPort: p}, ok
	}, both: always, fields: []string{"--http_port"}},
	{name: "routes", flags: flag1("--routes"), opts: func(v string) (options.Options, bool) {
		var o options.Options
		for _, r := range strings.Split(v, ",") {
			switch r = strings.TrimSpace(r); {
			case r == "":
			case o.Seed == "":
				o.Seed = r
			default:
				o.ExtraSeeds = append(o.ExtraSeeds, r)
			}
		}
		return o, true
	}, both: always, fields: []string{"--routes"}},
	{name: "cluster host", flags: func(v string) ([]string, map[string]string) {
		return []string{"--cluster", "nats://" + net.JoinHostPort(v, "4248")}, nil
	}, opts: func(v string) (options.Options, bool) {
		return options.Options{ClusterHost: v, ClusterPort: 4248}, true
	}, both: func(v string) bool { return !strings.ContainsAny(v, "/?#@[]") }, fields: []string{"--cluster"}},
	{name: "cluster port", flags: func(v string) ([]string, map[string]string) {
		return []string{"-cluster_listen", "nats-route://127.0.0.1:" + v}, nil
	}, opts: func(v string) (options.Options, bool) {
		// FromArgs trims the URL, so the port's trailing blanks.
		p, err := strconv.Atoi(strings.TrimRightFunc(v, unicode.IsSpace))
		return options.Options{ClusterHost: "127.0.0.1", ClusterPort: p}, err == nil
	}, both: func(v string) bool { return !strings.ContainsAny(v, "/?#@") && strings.TrimSpace(v) == v }, fields: []string{"-cluster_listen"}},
	{name: "secret", flags: env1(options.EnvSecret), opts: func(v string) (options.Options, bool) {
		return options.Options{Secret: v}, true
	}, both: always, fields: []string{options.EnvSecret}, secret: true},
	{name: "accepted secrets", flags: func(v string) ([]string, map[string]string) {
		return nil, map[string]string{options.EnvSecret: validSecret, options.EnvAcceptedSecrets: v}
	}, opts: func(v string) (options.Options, bool) {
		o := options.Options{Secret: validSecret}
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.AcceptedSecrets = append(o.AcceptedSecrets, s)
			}
		}
		return o, true
	}, both: always, fields: []string{options.EnvAcceptedSecrets}, secret: true},
	{name: "token", flags: flag1("--auth"), opts: func(v string) (options.Options, bool) {
		return options.Options{Token: v}, v != "" // --auth= is refused, not "no token"
	}, both: always, fields: []string{"--auth"}, secret: true},
	{name: "user", flags: func(v string) ([]string, map[string]string) {
		return []string{"--user", v, "--pass", fuzzPass}, nil
	}, opts: func(v string) (options.Options, bool) {
		return options.Options{Users: []options.User{{Name: v, Password: fuzzPass}}}, true
	}, both: always, fields: []string{"--user", "--pass"}},
	{name: "password", flags: func(v string) ([]string, map[string]string) {
		return []string{"--user", "alice"}, map[string]string{options.EnvPass: v}
	}, opts: func(v string) (options.Options, bool) {
		// An empty variable counts as unset: then --user lacks a password.
		return options.Options{Users: []options.User{{Name: "alice", Password: v}}}, v != ""
	}, both: always, fields: []string{"--user", options.EnvPass}, secret: true},
	{name: "system user", flags: func(v string) ([]string, map[string]string) {
		return []string{"--user", "alice", "--pass", fuzzPass, "--system_user", v}, map[string]string{options.EnvSystemPass: fuzzPass}
	}, opts: func(v string) (options.Options, bool) {
		return options.Options{Users: []options.User{{Name: "alice", Password: fuzzPass}}, SystemUser: options.User{Name: v, Password: fuzzPass}}, true
	}, both: always, fields: []string{"--system_user", "--user"}},
}

func flag1(name string) func(string) ([]string, map[string]string) {
	return func(v string) ([]string, map[string]string) { return []string{name, v}, nil }
}

func env1(name string) func(string) ([]string, map[string]string) {
	return func(v string) ([]string, map[string]string) { return nil, map[string]string{name: v} }
}

// FuzzFromArgsAgreesWithNormalize keeps the two entry points in step: a
// value given by a flag (or variable) is accepted by FromArgsEnv exactly
// when Normalize accepts the Options field it maps to; what FromArgsEnv
// returns is that Options; its errors name the flag as typed, match
// ErrInvalid and never show a secret. Run with -fuzz to look further than
// the seeds.
func FuzzFromArgsAgreesWithNormalize(f *testing.F) {
	seeds := map[string][]string{
		"name":              {"", "a", "a b", "a\x01b", "node-1"},
		"addr":              {"", "127.0.0.1", "::1", "[::1]", "localhost", "bad!host", "localhost:4222", `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`, "{{ nope }}"},
		"cluster_name":      {"", "orders", "a b", "a\tb"},
		"client_advertise":  {"", "10.0.0.5", "10.0.0.5:4222", "0.0.0.0", "h:0", "h:65536", "[::1]:1"},
		"cluster_advertise": {"", "nats.example.com:4248", "::", "a b"},
		"port":              {"", "0", "-1", "-2", "65535", "65536", "abc", " 4222 ", "+5", "0x10"},
		"http_port":         {"8222", "-1", "99999", "x"},
		"routes":            {"", ",", "nats://a:1", "nats://a:1, nats://b:2,", "http://a:1", "a:1", "nats://u:p@a:1", "nats://a"},
		"cluster host":      {"", "127.0.0.1", "::1", "localhost", "bad!host", "a b", "{{ nope }}", `{{ GetAllInterfaces | include "flag" "loopback" | include "type" "IPv4" | attr "address" }}`, "[::1]", "a/b"},
		"cluster port":      {"0", "-1", "-2", "4248", "65535", "65536", "x", "", " 1"},
		"secret":            {"", validSecret, "c2hvcnQ=", "not base64!", "s3cret-0123456789abcdef0123456789abcdefABCDE"},
		"accepted secrets":  {"", validSecret, validSecret + "," + validSecret, "short,", " , "},
		"token":             {"", "short", "long-enough-token"},
		"user":              {"", "bob", "alice", "a b", "a\x7fb"},
		"password":          {"", "short", fuzzPass},
		"system user":       {"", "op", "alice", "o p"},
	}
	for i, a := range agreements {
		for _, v := range seeds[a.name] {
			f.Add(uint8(i), v)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		a := agreements[int(which)%len(agreements)]
		args, env := a.flags(v)
		got, err := options.FromArgsEnv(args, func(k string) (string, bool) {
			s, ok := env[k]
			return s, ok
		})
		want, mapped := a.opts(v)
		var nerr error = errors.New("no Options form")
		if mapped {
			_, nerr = want.Normalize()
		}
		switch {
		case err == nil && nerr != nil:
			t.Fatalf("%s %q: FromArgs accepts, Normalize refuses %#v: %v", a.name, v, want, nerr)
		case err != nil && nerr == nil && a.both(v):
			t.Fatalf("%s %q: FromArgs refuses, Normalize accepts: %v", a.name, v, err)
		case err == nil && !reflect.DeepEqual(got, want):
			t.Fatalf("%s %q: FromArgs gives %#v, want %#v", a.name, v, got, want)
		case err == nil:
			return
		}
		if !errors.Is(err, options.ErrInvalid) {
			t.Fatalf("%s %q: error does not match ErrInvalid: %v", a.name, v, err)
		}
		if a.secret && len(v) >= 12 && strings.Contains(err.Error(), v) {
			t.Fatalf("%s: the error shows the secret: %v", a.name, err)
		}
		for _, fe := range fieldErrors(err) {
			if !slices.Contains(a.fields, fe.Field) {
				t.Fatalf("%s %q: error names %q, want one of %q: %v", a.name, v, fe.Field, a.fields, err)
			}
		}
	})
}

// fieldErrors returns the FieldErrors err holds (several, if joined).
func fieldErrors(err error) []*options.FieldError {
	if fe, ok := err.(*options.FieldError); ok {
		return []*options.FieldError{fe}
	}
	var out []*options.FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	}
	return out
}
