package options

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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
// 4222). Values are copied as given (a go-sockaddr template stays a
// template, -p -1 stays -1), for Normalize to resolve.
//
// FromArgs only maps flags to Options fields; the values are judged by
// Normalize, so FromArgs accepts exactly what Normalize accepts. A bad
// value is reported as a *FieldError whose Field is the flag as the user
// typed it ("-p", "--cluster") or the environment variable, and so are the
// flags a message mentions. -h or --help returns an error matching
// flag.ErrHelp; unknown flags and stray arguments are errors naming them.
// All errors except the help request match ErrInvalid.
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
	fs.StringVar(&routes, "routes", "", "route URLs")
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
	a := newArgs(fs, args)
	from := origins{}
	var errs []error

	// Each flag sets its fields as given; Normalize judges them below.
	if a.given("name", "n", "server_name") {
		o.Name = name
		from.set("Name", a.as("name", "n", "server_name"), nil)
	}
	if a.given("addr", "a", "net") {
		o.Host = host
		from.set("Host", a.as("addr", "a", "net"), nil)
	}
	if a.given("port", "p") {
		fl := a.as("port", "p")
		if p, err := strconv.Atoi(strings.TrimSpace(port)); err != nil {
			errs = append(errs, fieldErr(fl, port, "not a number"))
		} else {
			o.Port = p
			from.set("Port", fl, port)
		}
	}
	if a.given("cluster", "cluster_listen") {
		fl, shown := a.as("cluster", "cluster_listen"), address.Redact(cluster)
		if h, p, err := splitListenURL(cluster); err != nil {
			errs = append(errs, &FieldError{Field: fl, Value: shown, Err: err})
		} else {
			o.ClusterHost, o.ClusterPort = h, p
			from.set("ClusterHost", fl, shown)
			from.set("ClusterPort", fl, shown)
		}
	}
	if a.given("cluster_name") {
		o.Cluster = clusterName
		from.set("Cluster", a.as("cluster_name"), nil)
	}
	if a.given("client_advertise") {
		o.ClientAdvertise = clientAdv
		from.set("ClientAdvertise", a.as("client_advertise"), nil)
	}
	if a.given("cluster_advertise") {
		o.ClusterAdvertise = clusterAdv
		from.set("ClusterAdvertise", a.as("cluster_advertise"), nil)
	}
	if a.given("http_port", "m") {
		fl := a.as("http_port", "m")
		if p, err := strconv.Atoi(strings.TrimSpace(monPort)); err != nil {
			errs = append(errs, fieldErr(fl, monPort, "not a number"))
		} else {
			o.Monitor, o.MonitorPort = true, p
			from.set("MonitorPort", fl, monPort)
		}
	}
	seeds := splitRoutes(routes)
	for i, r := range seeds {
		if i == 0 {
			o.Seed = r
			from.set("Seed", a.as("routes"), nil)
			continue
		}
		o.ExtraSeeds = append(o.ExtraSeeds, r)
		from.set(fmt.Sprintf("ExtraSeeds[%d]", i-1), a.as("routes"), nil)
	}
	errs = append(errs, sec.apply(&o, a, from, lookupEnv)...)
	applyJetStream(&o)
	if a.given("store_dir", "sd") {
		from.set("StoreDir", a.as("store_dir", "sd"), nil)
	}

	if _, err := o.Normalize(); err != nil {
		errs = append(errs, from.rename(err)...)
	}
	switch len(errs) {
	case 0:
		return o, nil
	case 1:
		return Options{}, errs[0]
	default:
		return Options{}, errors.Join(errs...)
	}
}

// typedArgs are the flags of a parsed command line, as the user typed them.
type typedArgs struct {
	typed map[string]typedFlag // by the flag's name, without dashes
}

type typedFlag struct {
	as  string // "-p", "--port"
	pos int    // index of its last occurrence in args
}

// newArgs finds how each flag of fs that args set was typed, walking args
// as fs.Parse (which succeeded) did: "-name", "--name", "-name=value";
// a non-boolean flag without "=" takes the next argument as its value;
// "--" or the first non-flag ends the flags.
func newArgs(fs *flag.FlagSet, list []string) typedArgs {
	a := typedArgs{typed: map[string]typedFlag{}}
	for i := 0; i < len(list); i++ {
		s := list[i]
		if len(s) < 2 || s[0] != '-' || s == "--" {
			break
		}
		dashes := 1
		if s[1] == '-' {
			dashes = 2
		}
		name, _, hasValue := strings.Cut(s[dashes:], "=")
		f := fs.Lookup(name)
		if f == nil {
			break
		}
		a.typed[name] = typedFlag{as: s[:dashes] + name, pos: i}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			i++ // the value
		}
	}
	return a
}

// given reports whether any of the flags named was set.
func (a typedArgs) given(names ...string) bool {
	for _, n := range names {
		if _, ok := a.typed[n]; ok {
			return true
		}
	}
	return false
}

// as returns how the flag among names that was set last was typed; if none
// was, "--" and the first name.
func (a typedArgs) as(names ...string) string {
	best := typedFlag{as: "--" + names[0], pos: -1}
	for _, n := range names {
		if t, ok := a.typed[n]; ok && t.pos > best.pos {
			best = t
		}
	}
	return best.as
}

// origin is where FromArgs took an Options field from.
type origin struct {
	name  string // the flag as typed, or the environment variable
	shown any    // what an error shows as the value; nil: Normalize's value
	note  string // said before Normalize's message, e.g. "line 3"
}

// origins maps Options fields ("Port", "Users[0].Password") to where
// FromArgs took them from, to report Normalize's errors in the user's terms.
type origins map[string]origin

func (or origins) set(field, name string, shown any) {
	or[field] = origin{name: name, shown: shown}
}

// defaultFlags name the options a message may mention that no flag set.
var defaultFlags = map[string]string{
	"Host": "--addr", "MonitorHost": "--addr", "Port": "--port", "ClusterHost": "--cluster",
	"ClusterPort": "--cluster", "MonitorPort": "--http_port", "Secret": "--secret_file",
	"RouteTLS": "--cluster_tlscert", "Users[0]": "--user", "SystemUser": "--system_user",
}

// flag returns the flag (or variable) that stands for the option field.
func (or origins) flag(field string) string {
	for _, f := range []string{field, field + ".Name"} {
		if o, ok := or[f]; ok {
			return o.name
		}
	}
	if f, ok := defaultFlags[field]; ok {
		return f
	}
	return field
}

// rename rewrites Normalize's error err (a *FieldError, or several joined)
// in the user's terms: each FieldError names the flag or variable that set
// its field, and so do the messages that mention other options.
func (or origins) rename(err error) []error {
	switch e := err.(type) {
	case *FieldError:
		r := *e
		o, ok := or[e.Field]
		r.Field = or.flag(e.Field)
		if ok && o.shown != nil {
			r.Value = o.shown
		}
		if m, isMention := r.Err.(*mention); isMention {
			r.Err = errors.New(m.with(or.flag))
		}
		if o.note != "" {
			r.Err = fmt.Errorf("%s %w", o.note, r.Err)
		}
		return []error{&r}
	case interface{ Unwrap() []error }:
		var out []error
		for _, x := range e.Unwrap() {
			out = append(out, or.rename(x)...)
		}
		return out
	default:
		return []error{err}
	}
}

// splitListenURL takes a route listen URL apart as nats-server's -cluster
// reads it: nats://host:port (or nats-route://); the host may be empty (the
// client listen address) or a go-sockaddr template. It checks the URL's
// form only; Normalize judges the host and the port.
func splitListenURL(raw string) (host string, port int, err error) {
	s := strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", 0, errors.New("want a URL such as nats://localhost:4248")
	}
	// Refused before anything quotes the URL: a password may hold "#",
	// "/" or "?".
	if strings.Contains(rest, "@") {
		return "", 0, errors.New("user and password are not supported")
	}
	if sc := strings.ToLower(scheme); sc != "nats" && sc != "nats-route" {
		return "", 0, fmt.Errorf("scheme %q, want nats or nats-route", scheme)
	}
	// A go-sockaddr template may hold ":" or "/" (a network); the URL's
	// own syntax resumes after it.
	var tmpl string
	if i := strings.LastIndex(rest, "}}"); strings.HasPrefix(rest, "{{") && i >= 0 {
		tmpl, rest = rest[:i+2], rest[i+2:]
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#") {
		return "", 0, errors.New("unexpected path, query or fragment")
	}
	var ps string
	if tmpl != "" {
		host = tmpl
		if ps, ok = strings.CutPrefix(rest, ":"); !ok {
			return "", 0, errors.New("want a URL such as nats://{{ GetPrivateIP }}:4248")
		}
	} else if host, ps, err = net.SplitHostPort(rest); err != nil {
		return "", 0, fmt.Errorf("want host:port: %w", err)
	}
	if port, err = strconv.Atoi(ps); err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", ps)
	}
	return host, port, nil
}

// splitRoutes splits --routes at its commas, as nats-server does, except
// where a comma sits in a URL's user information: a part with no scheme
// that follows a URL with no "@" yet is the rest of that URL
// (nats://u:pa,ss@host). Split there, the password's first half would be
// a URL of its own, and quoted whole in its error.
func splitRoutes(routes string) []string {
	var seeds []string
	for _, r := range strings.Split(routes, ",") {
		if last := len(seeds) - 1; last >= 0 && strings.TrimSpace(r) != "" && !strings.Contains(r, "://") && !strings.Contains(seeds[last], "@") {
			seeds[last] += "," + r
			continue
		}
		if r = strings.TrimSpace(r); r != "" {
			seeds = append(seeds, r)
		}
	}
	for i := range seeds {
		seeds[i] = strings.TrimSpace(seeds[i])
	}
	return seeds
}
