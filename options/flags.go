package options

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/natsmesh/natsmesh/discovery"
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
`

// Usage returns a short help text listing the flags FromArgs understands.
func Usage() string { return usage }

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
func FromArgs(args []string) (Options, error) {
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

	applyJetStream := jetStreamFlags(fs)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Options{}, err
		}
		return Options{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if rest := fs.Args(); len(rest) > 0 {
		return Options{}, fmt.Errorf("%w: unexpected argument %q (flags must come before it; see -h)", ErrInvalid, rest[0])
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
		if _, err := discovery.ResolveHost(host); err != nil {
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
			errs = append(errs, &FieldError{Field: "--cluster", Value: discovery.Redact(cluster), Err: err})
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
		if _, _, err := discovery.ResolveAdvertise(a.v); err != nil {
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
		if _, err := discovery.ParseSeed(r); err != nil {
			errs = append(errs, &FieldError{Field: "--routes", Value: discovery.Redact(r), Err: err})
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
	// A go-sockaddr template as the host: evaluate it first.
	if strings.Contains(s, "{{") {
		scheme, rest, _ := strings.Cut(s, "://")
		i := strings.LastIndex(rest, ":")
		if i < 0 {
			return "", 0, errors.New("want a URL such as nats://{{ GetPrivateIP }}:4248")
		}
		h, err := discovery.ResolveHost(rest[:i])
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
	if u.User != nil {
		return "", 0, errors.New("user and password are not supported")
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
		if _, err := discovery.ResolveHost(h); err != nil {
			return "", 0, err
		}
	}
	return h, port, nil
}
