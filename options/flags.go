package options

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/natsmesh/natsmesh/internal/address"
)

// usage is the help text returned by Usage. Keep it in step with FromArgs.
const usage = `Flags (named as nats-server's; each may be written with - or --):
  -n, --name, --server_name NAME  node name, unique in the mesh (default: generated)
  -a, --addr, --net HOST          client listen address: IP, host name or
                                  go-sockaddr template (default: 127.0.0.1)
  -p, --port PORT                 client port; 0 or -1 picks a free port (default: free)
      --cluster, --cluster_listen URL
                                  route listen URL, e.g. nats://localhost:4248;
                                  port 0 or -1 picks a free port; an empty host
                                  (nats://:4248) means the same as --addr; the
                                  host may be a go-sockaddr template
      --cluster_name NAME         cluster name; only nodes with the same name
                                  mesh (default: ` + DefaultCluster + `)
      --routes URL[,URL...]       route URLs of nodes to join through, e.g.
                                  nats://localhost:4248 (none: start a new mesh)
      --client_advertise HOST[:PORT]
                                  client address to tell clients and peers
      --cluster_advertise HOST[:PORT]
                                  route address to tell peers (gossiped)
  -m, --http_port PORT            turn on HTTP monitoring on PORT (0 or -1: free)
  -js, --jetstream                turn on clustered JetStream
  -sd, --store_dir DIR            JetStream store (default: a temporary
                                  directory, removed when the node stops)
  -h, --help                      show this help

Routes (every node of a mesh needs the same; see Options.Secret):
      --secret_file PATH          seal routes with the secret in PATH (mutual
                                  TLS; 32+ random bytes, base64), or set
                                  ` + EnvSecret + `. Never on the command line:
                                  any local user sees a process's arguments (ps)
      --accepted_secrets_file PATH
                                  also accept peers using these secrets, one per
                                  line (rotation). Or ` + EnvAcceptedSecrets + `=s1,s2
      --cluster_tlscert FILE      own PKI instead of a secret (natsmesh's flags;
      --cluster_tlskey FILE       nats-server sets route TLS only in its config
      --cluster_tlscacert FILE    file): the route certificate, its key, and the
                                  CA that signs every peer's certificate. All
                                  three, and the certificates must name the
                                  addresses peers dial (IPs, for gossiped routes)

Clients (as nats-server's flags; a value on the command line is visible to
every local user through ps, so prefer the _file flags or the variables):
      --user NAME                 clients must log in as NAME ...
      --pass PASSWORD             ... with PASSWORD,
      --pass_file PATH            ... or the password in PATH (or ` + EnvPass + `)
      --auth TOKEN                clients may log in with TOKEN instead,
      --auth_file PATH            or with the token in PATH (or ` + EnvAuth + `)
      --tls                       TLS on the client port (implied by the others;
                                  --tls=false turns it off whatever they say)
      --tlscert FILE              the node's certificate for clients
      --tlskey FILE               its private key
      --tlscacert FILE            the CA that signs client certificates
      --tlsverify                 require and verify client certificates
      --system_user NAME          an operator login to the system account
      --system_pass_file PATH     (nats server list ...), its password in PATH
                                  (or ` + EnvSystemPass + `)

A _file flag's file holds the value on one line (a trailing newline is
dropped). The variables are read by FromArgsEnv (examples/node uses it), not
by FromArgs; a flag and its variable together are an error.
`

// Usage returns a short help text listing the flags FromArgs understands.
func Usage() string { return usage }

// The environment variables FromArgsEnv reads: each stands for a _file flag,
// for a process manager that passes secrets through the environment.
const (
	EnvSecret          = "NATSMESH_SECRET"           // --secret_file
	EnvAcceptedSecrets = "NATSMESH_ACCEPTED_SECRETS" // --accepted_secrets_file, comma-separated
	EnvPass            = "NATSMESH_PASS"             // --pass_file
	EnvAuth            = "NATSMESH_AUTH"             // --auth_file
	EnvSystemPass      = "NATSMESH_SYSTEM_PASS"      // --system_pass_file
)

// flagValue and quotedValue match the values the flag package quotes in
// its errors.
var (
	flagValue   = regexp.MustCompile(`=\S*`)
	quotedValue = regexp.MustCompile(`"[^"]*"`)
)

// FromArgs reads nats-server's command-line flags for a mesh node, so that
// the commands that start a stock NATS cluster start a mesh node unchanged:
//
//	-p 4222 -cluster nats://localhost:4248
//	-p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248
//
// args excludes the program name (pass os.Args[1:]). The result is not
// normalized: fields not given keep their zero values, which Normalize (or
// mesh.Start) turns into natsmesh's defaults. Those differ from
// nats-server's where a flag is left out: without -a the node listens on
// 127.0.0.1 (not every interface), and without -p on a free port (not
// 4222).
//
// -h or --help returns an error matching flag.ErrHelp. A bad value is
// reported as a *FieldError whose Field is the flag's long name (e.g.
// "--port"); unknown flags and stray arguments are errors naming them. All
// errors except the help request match ErrInvalid.
//
// The security flags follow nats-server's where it has them (--user,
// --pass, --auth, --tls, --tlscert, --tlskey, --tlscacert, --tlsverify: the
// client port) and add natsmesh's own: --secret_file and
// --accepted_secrets_file (Secret, AcceptedSecrets), --cluster_tlscert,
// --cluster_tlskey and --cluster_tlscacert (RouteTLS), --system_user and
// --system_pass_file (SystemUser), --pass_file and --auth_file. Files are
// read, and certificates loaded, while parsing; their errors name the flag
// and the path, never what a file holds. No flag takes a secret on the
// command line, where any local user can read it (ps), except --pass and
// --auth, as in nats-server; their _file forms are better.
func FromArgs(args []string) (Options, error) {
	return FromArgsEnv(args, nil)
}

// FromArgsEnv is FromArgs, plus secrets from environment variables looked up
// with lookupEnv (os.LookupEnv; nil looks up nothing): EnvSecret,
// EnvAcceptedSecrets, EnvPass, EnvAuth and EnvSystemPass, each standing for
// its _file flag. An empty variable counts as unset; a variable and its
// flag together are an error, as is a password variable without its
// --user or --system_user. Errors name the variable, never its value.
func FromArgsEnv(args []string, lookupEnv func(string) (string, bool)) (Options, error) {
	var (
		o                                      Options
		name, host, port, cluster, clusterName string
		routes, clientAdv, clusterAdv, monPort string
	)
	fs := flag.NewFlagSet("natsmesh", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, n := range []string{"n", "name", "server_name"} {
		fs.StringVar(&name, n, "", "node name")
	}
	for _, n := range []string{"a", "addr", "net"} {
		fs.StringVar(&host, n, "", "client listen address")
	}
	for _, n := range []string{"p", "port"} {
		fs.StringVar(&port, n, "", "client port")
	}
	for _, n := range []string{"cluster", "cluster_listen"} {
		fs.StringVar(&cluster, n, "", "route listen URL")
	}
	fs.StringVar(&clusterName, "cluster_name", "", "cluster name")
	// nats-server's -r is --remote_syslog, so routes have no short form.
	for _, n := range []string{"routes"} {
		fs.StringVar(&routes, n, "", "route URLs")
	}
	fs.StringVar(&clientAdv, "client_advertise", "", "client address to advertise")
	fs.StringVar(&clusterAdv, "cluster_advertise", "", "route address to advertise")
	for _, n := range []string{"m", "http_port"} {
		fs.StringVar(&monPort, n, "", "monitoring port")
	}
	var sec securityFlags
	sec.define(fs)

	applyJetStream := jetStreamFlags(fs)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Options{}, err
		}
		// The flag package quotes values ("bad flag syntax: ---auth=TOKEN",
		// "invalid boolean value \"x\""): mask them, a value may be a secret.
		msg := flagValue.ReplaceAllString(quotedValue.ReplaceAllString(err.Error(), `"xxxxx"`), "=xxxxx")
		return Options{}, fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	if rest := fs.Args(); len(rest) > 0 {
		return Options{}, fmt.Errorf("%w: unexpected argument %d of %d, after the flags (not shown: it may be a secret; flags must come before arguments, see -h)", ErrInvalid, len(args)-len(rest)+1, len(args))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	given := func(names ...string) bool {
		for _, n := range names {
			if set[n] {
				return true
			}
		}
		return false
	}

	var errs []error
	if name != "" {
		if err := checkToken(name); err != nil {
			errs = append(errs, &FieldError{Field: "--name", Value: name, Err: err})
		}
		o.Name = name
	}
	if host != "" {
		if _, err := address.ResolveHost(host); err != nil {
			errs = append(errs, &FieldError{Field: "--addr", Value: host, Err: err})
		}
		o.Host = host
	}
	if given("p", "port") {
		p, err := parsePort(port)
		if err != nil {
			errs = append(errs, &FieldError{Field: "--port", Value: port, Err: err})
		}
		o.Port = p
	}
	if given("cluster", "cluster_listen") {
		h, p, err := parseListenURL(cluster)
		if err != nil {
			errs = append(errs, &FieldError{Field: "--cluster", Value: address.Redact(cluster), Err: err})
		}
		o.ClusterHost, o.ClusterPort = h, p
	}
	if given("cluster_name") {
		if clusterName == "" {
			errs = append(errs, fieldErr("--cluster_name", clusterName, "must not be empty (leave the flag out for the default %q)", DefaultCluster))
		} else if err := checkToken(clusterName); err != nil {
			errs = append(errs, &FieldError{Field: "--cluster_name", Value: clusterName, Err: err})
		}
		o.Cluster = clusterName
	}
	for _, a := range []struct {
		flag, v string
		dst     *string
	}{{"--client_advertise", clientAdv, &o.ClientAdvertise}, {"--cluster_advertise", clusterAdv, &o.ClusterAdvertise}} {
		if a.v == "" {
			continue
		}
		if _, _, err := address.ResolveAdvertise(a.v); err != nil {
			errs = append(errs, &FieldError{Field: a.flag, Value: a.v, Err: err})
		}
		*a.dst = a.v
	}
	if given("m", "http_port") {
		p, err := parsePort(monPort)
		if err != nil {
			errs = append(errs, &FieldError{Field: "--http_port", Value: monPort, Err: err})
		}
		o.Monitor, o.MonitorPort = true, p
	}
	var seeds []string
	for _, r := range strings.Split(routes, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if _, err := address.ParseSeed(r); err != nil {
			errs = append(errs, &FieldError{Field: "--routes", Value: address.Redact(r), Err: err})
			continue
		}
		seeds = append(seeds, r)
	}
	if len(seeds) > 0 {
		o.Seed = seeds[0]
	}
	if len(seeds) > 1 {
		o.ExtraSeeds = seeds[1:]
	}
	errs = append(errs, sec.apply(&o, given, lookupEnv)...)
	applyJetStream(&o)
	switch len(errs) {
	case 0:
		return o, nil
	case 1:
		return Options{}, errs[0]
	default:
		return Options{}, errors.Join(errs...)
	}
}

// parsePort reads a decimal port; nats-server's -1 (a random port) becomes
// 0, which means the same in Options.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("not a number")
	}
	if p < -1 || p > 65535 {
		return 0, errors.New("must be between -1 (a free port) and 65535")
	}
	if p == -1 {
		p = 0
	}
	return p, nil
}

// parseListenURL reads a route listen URL as nats-server's -cluster does:
// nats://host:port (or nats-route://), port -1 or 0 for a free one.
func parseListenURL(raw string) (host string, port int, err error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		return "", 0, errors.New("want a URL such as nats://localhost:4248")
	}
	// Refused before url.Parse, whose errors would quote a password that
	// holds "#", "/" or "?".
	if _, after, _ := strings.Cut(s, "://"); strings.Contains(after, "@") {
		return "", 0, errors.New("user and password are not supported")
	}
	// A go-sockaddr template as the host: evaluate it first.
	if strings.Contains(s, "{{") {
		scheme, rest, _ := strings.Cut(s, "://")
		i := strings.LastIndex(rest, ":")
		if i < 0 {
			return "", 0, errors.New("want a URL such as nats://{{ GetPrivateIP }}:4248")
		}
		h, err := address.ResolveHost(rest[:i])
		if err != nil {
			return "", 0, err
		}
		if strings.Contains(h, ":") { // IPv6
			h = "[" + h + "]"
		}
		s = scheme + "://" + h + rest[i:]
	}
	// url.Parse refuses port -1, as in nats-server: parse with 0 instead.
	if before, ok := strings.CutSuffix(s, ":-1"); ok {
		s = before + ":0"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", 0, err
	}
	if u.Scheme != "nats" && u.Scheme != "nats-route" {
		return "", 0, fmt.Errorf("scheme %q, want nats or nats-route", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return "", 0, errors.New("unexpected path, query or fragment")
	}
	h, ps, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port: %w", err)
	}
	port, err = parsePort(ps)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", ps, err)
	}
	if h != "" {
		if _, err := address.ResolveHost(h); err != nil {
			return "", 0, err
		}
	}
	return h, port, nil
}

// securityFlags are the flags of Secret, AcceptedSecrets, RouteTLS,
// ClientTLS, Users, Token and SystemUser.
type securityFlags struct {
	secretFile, acceptedFile           string
	clusterCert, clusterKey, clusterCA string
	user, pass, passFile               string
	auth, authFile                     string
	tls, tlsVerify                     bool
	tlsCert, tlsKey, tlsCA             string
	systemUser, systemPassFile         string
}

func (f *securityFlags) define(fs *flag.FlagSet) {
	for _, s := range []struct {
		dst  *string
		name string
	}{
		{&f.secretFile, "secret_file"}, {&f.acceptedFile, "accepted_secrets_file"},
		{&f.clusterCert, "cluster_tlscert"}, {&f.clusterKey, "cluster_tlskey"}, {&f.clusterCA, "cluster_tlscacert"},
		{&f.user, "user"}, {&f.pass, "pass"}, {&f.passFile, "pass_file"},
		{&f.auth, "auth"}, {&f.authFile, "auth_file"},
		{&f.tlsCert, "tlscert"}, {&f.tlsKey, "tlskey"}, {&f.tlsCA, "tlscacert"},
		{&f.systemUser, "system_user"}, {&f.systemPassFile, "system_pass_file"},
	} {
		fs.StringVar(s.dst, s.name, "", s.name)
	}
	fs.BoolVar(&f.tls, "tls", false, "TLS on the client port")
	fs.BoolVar(&f.tlsVerify, "tlsverify", false, "require client certificates")
}

// source is one place a secret may come from: a flag holding it, a flag
// naming a file holding it, or an environment variable.
type source struct {
	name  string // "--pass", "--pass_file", "NATSMESH_PASS"
	set   bool
	value string // the secret, or the file's path
	file  bool
}

// secretFrom returns the secret given by at most one of srcs, and the name
// of the (first) one that gave it ("" if none did), also with an error.
func secretFrom(srcs ...source) (secret, from string, err error) {
	var set []source
	for _, s := range srcs {
		if s.set {
			set = append(set, s)
		}
	}
	switch {
	case len(set) == 0:
		return "", "", nil
	case len(set) > 1:
		names := make([]string, len(set))
		for i, s := range set {
			names[i] = s.name
		}
		return "", set[0].name, fieldErr(set[1].name, set[1].shown(), "give one of %s, not several", strings.Join(names, ", "))
	}
	s := set[0]
	if !s.file {
		if s.value == "" {
			return "", "", fieldErr(s.name, masked(0), "must not be empty")
		}
		return s.value, s.name, nil
	}
	v, err := readValueFile(s.name, s.value)
	return v, s.name, err
}

// shown is what an error may say of s's value: a file's path, or the
// length of a secret.
func (s source) shown() any {
	if s.file {
		return s.value
	}
	return masked(len(s.value))
}

// readValueFile returns the one line the file at path holds, without its
// trailing newline. Errors name flag and path, not the content.
func readValueFile(flag, path string) (string, error) {
	b, err := readFile(flag, path)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	switch {
	case v == "":
		return "", fieldErr(flag, path, "the file is empty")
	case strings.ContainsAny(v, "\r\n"):
		return "", fieldErr(flag, path, "the file holds more than one line")
	}
	return v, nil
}

func readFile(flag, path string) ([]byte, error) {
	if path == "" {
		return nil, fieldErr(flag, path, "must name a file")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%s: %w", pe.Op, pe.Err) // the path is the Value already
		}
		return nil, &FieldError{Field: flag, Value: path, Err: err}
	}
	return b, nil
}

// checkSecretLength refuses a secret Normalize would refuse, naming where
// it came from.
func checkSecretLength(from string, shown any, s string, what string) error {
	if err := checkSecret(s); err != nil {
		return fieldErr(from, shown, "%s%v", what, err)
	}
	return nil
}

func (f *securityFlags) apply(o *Options, given func(...string) bool, lookupEnv func(string) (string, bool)) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	env := func(name string) source {
		var v string
		if lookupEnv != nil {
			v, _ = lookupEnv(name)
		}
		return source{name: name, set: v != "", value: v}
	}

	// Routes: a secret, the secrets also accepted, or an own PKI.
	secretEnv := env(EnvSecret)
	secret, from, err := secretFrom(source{"--secret_file", given("secret_file"), f.secretFile, true}, secretEnv)
	add(err)
	if err == nil && secret != "" {
		shown := any(f.secretFile)
		if from == EnvSecret {
			shown = masked(len(secret))
		}
		if err := checkSecretLength(from, shown, secret, "the secret "); err != nil {
			add(err)
		} else {
			o.Secret = secret
		}
	}
	acceptedEnv := env(EnvAcceptedSecrets)
	switch {
	case given("accepted_secrets_file") && acceptedEnv.set:
		add(fieldErr(EnvAcceptedSecrets, masked(len(acceptedEnv.value)), "give one of --accepted_secrets_file, %s, not several", EnvAcceptedSecrets))
	case given("accepted_secrets_file"):
		b, err := readFile("--accepted_secrets_file", f.acceptedFile)
		add(err)
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimRight(line, "\r")
			if line == "" {
				continue
			}
			if err := checkSecretLength("--accepted_secrets_file", f.acceptedFile, line, fmt.Sprintf("line %d ", i+1)); err != nil {
				add(err)
				continue
			}
			o.AcceptedSecrets = append(o.AcceptedSecrets, line)
		}
	case acceptedEnv.set:
		for i, s := range strings.Split(acceptedEnv.value, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if err := checkSecretLength(EnvAcceptedSecrets, masked(len(acceptedEnv.value)), s, fmt.Sprintf("secret %d ", i+1)); err != nil {
				add(err)
				continue
			}
			o.AcceptedSecrets = append(o.AcceptedSecrets, s)
		}
	}
	if given("cluster_tlscert", "cluster_tlskey", "cluster_tlscacert") {
		cfg, ok := &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert}, true
		for _, need := range []struct{ flag, v string }{
			{"--cluster_tlscert", f.clusterCert}, {"--cluster_tlskey", f.clusterKey}, {"--cluster_tlscacert", f.clusterCA},
		} {
			if need.v == "" {
				add(fieldErr(need.flag, need.v, "route TLS needs --cluster_tlscert, --cluster_tlskey and --cluster_tlscacert"))
				ok = false
			}
		}
		if ok {
			cert, err := loadKeyPair("--cluster_tlscert", f.clusterCert, "--cluster_tlskey", f.clusterKey)
			add(err)
			pool, perr := loadPool("--cluster_tlscacert", f.clusterCA)
			add(perr)
			if err == nil && perr == nil {
				cfg.Certificates, cfg.RootCAs, cfg.ClientCAs = []tls.Certificate{cert}, pool, pool
				o.RouteTLS = cfg
			}
		}
		if secret != "" {
			add(fieldErr("--cluster_tlscert", f.clusterCert, "give --secret_file (or %s) or the --cluster_tls flags, not both", EnvSecret))
			o.RouteTLS = nil
		}
	}

	// Clients: TLS as nats-server's flags turn it on: any --tls* flag,
	// unless --tls=false.
	if given("tls", "tlscert", "tlskey", "tlscacert", "tlsverify") && !(given("tls") && !f.tls) {
		ok := true
		for _, need := range []struct{ flag, v string }{{"--tlscert", f.tlsCert}, {"--tlskey", f.tlsKey}} {
			if need.v == "" {
				add(fieldErr(need.flag, need.v, "TLS on the client port needs --tlscert and --tlskey"))
				ok = false
			}
		}
		if ok {
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			cert, err := loadKeyPair("--tlscert", f.tlsCert, "--tlskey", f.tlsKey)
			add(err)
			cfg.Certificates = []tls.Certificate{cert}
			if f.tlsVerify {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
			}
			var perr error
			if given("tlscacert") {
				cfg.ClientCAs, perr = loadPool("--tlscacert", f.tlsCA)
				add(perr)
			}
			if err == nil && perr == nil {
				o.ClientTLS = cfg
			}
		}
	}

	// Clients: a user, a token; operators: the system user.
	pass, passFrom, err := secretFrom(
		source{"--pass", given("pass"), f.pass, false},
		source{"--pass_file", given("pass_file"), f.passFile, true},
		env(EnvPass))
	add(err)
	switch {
	case given("user"):
		switch err := checkToken(f.user); {
		case f.user == "":
			add(fieldErr("--user", f.user, "must not be empty"))
		case err != nil:
			add(&FieldError{Field: "--user", Value: f.user, Err: err})
		case passFrom == "":
			add(fieldErr("--user", f.user, "needs a password: --pass_file, %s or --pass", EnvPass))
		case pass != "":
			o.Users = []User{{Name: f.user, Password: pass}}
		}
	case passFrom != "":
		add(fieldErr(passFrom, "", "is a password for --user, which is not given"))
	}
	token, _, err := secretFrom(
		source{"--auth", given("auth"), f.auth, false},
		source{"--auth_file", given("auth_file"), f.authFile, true},
		env(EnvAuth))
	add(err)
	o.Token = token
	sysPass, sysFrom, err := secretFrom(source{"--system_pass_file", given("system_pass_file"), f.systemPassFile, true}, env(EnvSystemPass))
	add(err)
	switch {
	case given("system_user"):
		switch err := checkToken(f.systemUser); {
		case f.systemUser == "":
			add(fieldErr("--system_user", f.systemUser, "must not be empty"))
		case err != nil:
			add(&FieldError{Field: "--system_user", Value: f.systemUser, Err: err})
		case given("user") && f.systemUser == f.user:
			add(fieldErr("--system_user", f.systemUser, "is also --user: the system user needs a name of its own"))
		case sysFrom == "":
			add(fieldErr("--system_user", f.systemUser, "needs a password: --system_pass_file or %s", EnvSystemPass))
		case sysPass != "":
			o.SystemUser = User{Name: f.systemUser, Password: sysPass}
		}
	case sysFrom != "":
		add(fieldErr(sysFrom, "", "is a password for --system_user, which is not given"))
	}
	return errs
}

// loadKeyPair loads a certificate and its key, blaming the flag whose file
// is at fault.
func loadKeyPair(certFlag, certPath, keyFlag, keyPath string) (tls.Certificate, error) {
	certPEM, err := readFile(certFlag, certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile(keyFlag, keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := checkCertificates(certPEM); err != nil {
		return tls.Certificate{}, &FieldError{Field: certFlag, Value: certPath, Err: err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificates parsed: what is wrong is the key, or that it
		// does not match. crypto/tls's errors name no content.
		return tls.Certificate{}, fieldErr(keyFlag, keyPath, "key for %s %q: %w", certFlag, certPath, err)
	}
	return cert, nil
}

// loadPool loads the CA certificates of a PEM file.
func loadPool(flag, path string) (*x509.CertPool, error) {
	b, err := readFile(flag, path)
	if err != nil {
		return nil, err
	}
	if err := checkCertificates(b); err != nil {
		return nil, &FieldError{Field: flag, Value: path, Err: err}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return pool, nil
}

// checkCertificates checks that b is PEM holding at least one certificate,
// all of which parse. Its errors hold no content of b.
func checkCertificates(b []byte) error {
	n := 0
	for len(b) > 0 {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}
