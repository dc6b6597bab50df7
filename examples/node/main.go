// Command node runs one standalone natsmesh node, configured with
// nats-server's own flags, so the cluster walkthrough's commands work as
// they are:
//
//	go run ./examples/node -p 4222 -cluster nats://localhost:4248
//	go run ./examples/node -p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248
//	go run ./examples/node -p 6222 -cluster nats://localhost:6248 -routes nats://localhost:4248
//
// With -js (and -sd DIR to keep the data across restarts) every node runs
// clustered JetStream, the first one included.
//
// It prints peers joining and leaving, and on SIGINT or SIGTERM leaves the
// mesh gracefully (lame duck, so its clients move to peers) before exiting.
//
// A sealed mesh takes its secret from a file or the environment, never
// from the command line (see options.FromArgsEnv):
//
//	go run ./examples/node secret mesh.secret   # a new secret, mode 0600
//	go run ./examples/node -p 4222 -cluster nats://localhost:4248 --secret_file mesh.secret
//
// and `node stock-tls` writes the files a stock nats-server needs to join
// such a mesh, and prints its cluster block. The node prints no secret.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// usage is the node's own help, before the flags options.Usage lists.
const usage = `Usage:
  node [flags]                run a mesh node with the flags below
  node secret PATH            write a new secret to PATH (mode 0600; never
                              overwrites), for --secret_file
  node stock-tls --dir DIR [--host HOST]... [--secret_file PATH]
           [--accepted_secrets_file PATH] [--cluster_name NAME]
           [--cluster URL] [--routes URL,...]
                              write into DIR the CA file, a route certificate
                              and its key that let a stock nats-server join
                              the mesh sealed by the secret (or ` + options.EnvSecret + `),
                              and print its cluster block; --host names an
                              address other stock servers dial it at

`

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], takeEnv, os.Stdout, os.Stderr, stop))
}

// takeEnv reads a variable and removes it from the environment, so that
// no process this one starts inherits a secret.
func takeEnv(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	_ = os.Unsetenv(name)
	return v, ok
}

// run is the program: args without the program's name, lookupEnv for the
// NATSMESH_* variables, and stop, which ends a running node. It returns
// the exit code.
func run(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer, stop <-chan os.Signal) int {
	if len(args) > 0 {
		switch args[0] {
		case "secret":
			return writeSecret(args[1:], stdout, stderr)
		case "stock-tls":
			return stockTLS(args[1:], lookupEnv, stdout, stderr)
		}
	}
	opts, err := options.FromArgsEnv(args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage+options.Usage())
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n\n%s", err, usage+options.Usage())
		return 2
	}
	if opts.Name == "" && opts.Port > 0 {
		// A readable default for the walkthrough: host-4222. (nats-server
		// would use its server ID; with a free port the library generates
		// a name.)
		host, _ := os.Hostname()
		opts.Name = fmt.Sprintf("%s-%d", host, opts.Port)
	}
	stamp := func() string { return time.Now().Format("15:04:05.000") }
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.Hooks = options.Hooks{
		PeerJoined: func(p mesh.Peer) {
			fmt.Fprintf(stdout, "%s  + %-10s joined   routes %s  clients %v\n", stamp(), p.Name, p.ClusterURL, p.ClientURLs)
		},
		PeerLeft: func(p mesh.Peer, why mesh.LeaveReason) {
			fmt.Fprintf(stdout, "%s  - %-10s %s\n", stamp(), p.Name, why)
		},
	}

	node, err := mesh.Start(opts)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s  node %s ready: clients %s  routes %s\n", stamp(), node.Name(), node.ClientURL(), node.ClusterURL())
	fmt.Fprintf(stdout, "%s  %s\n", stamp(), security(opts))
	if u := node.MonitorURL(); u != "" {
		fmt.Fprintf(stdout, "%s  monitoring on %s/varz\n", stamp(), u)
	}
	if opts.JetStream {
		go func() {
			// Ready once the meta group has a leader: with a second node.
			if err := node.WaitForJetStream(context.Background()); err == nil {
				fmt.Fprintf(stdout, "%s  JetStream ready\n", stamp())
			}
		}()
	}

	s := <-stop
	fmt.Fprintf(stdout, "%s  %v: leaving the mesh\n", stamp(), s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.Leave(ctx); err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s  node %s left\n", stamp(), node.Name())
	return 0
}

// security says how the node is protected, naming no secret.
func security(o options.Options) string {
	var parts []string
	switch {
	case o.Secret != "" && len(o.AcceptedSecrets) > 0:
		parts = append(parts, fmt.Sprintf("routes sealed by a secret (%d more accepted)", len(o.AcceptedSecrets)))
	case o.Secret != "":
		parts = append(parts, "routes sealed by a secret")
	case o.RouteTLS != nil:
		parts = append(parts, "routes: TLS with own certificates")
	default:
		parts = append(parts, "routes in plain text, open to any server")
	}
	var logins []string
	for _, u := range o.Users {
		logins = append(logins, "user "+u.Name)
	}
	if o.Token != "" {
		logins = append(logins, "a token")
	}
	if len(logins) > 0 {
		parts = append(parts, "clients log in ("+strings.Join(logins, ", ")+")")
	} else {
		parts = append(parts, "anonymous clients allowed")
	}
	if o.ClientTLS != nil {
		parts = append(parts, "client TLS")
	}
	if o.SystemUser.Name != "" {
		parts = append(parts, "operator login "+o.SystemUser.Name)
	}
	return "security: " + strings.Join(parts, "; ")
}

// writeSecret writes options.NewSecret to a new file, readable by its
// owner only, and says where (not what).
func writeSecret(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, "node secret: want one argument, the file to write\n\n"+usage)
		return 2
	}
	path := args[0]
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		// Never overwritten: that file may be a running mesh's secret.
		fmt.Fprintf(stderr, "node secret: %v\n", err)
		return 1
	}
	_, err = fmt.Fprintln(f, options.NewSecret())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		fmt.Fprintf(stderr, "node secret: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote a new secret to %s (mode 0600); give every node --secret_file %s\n", path, path)
	return 0
}

// hostList is a repeatable --host flag.
type hostList []string

func (h *hostList) String() string     { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error { *h = append(*h, v); return nil }

// stockTLS writes the files a stock nats-server needs to join a mesh
// sealed by a secret, and prints the cluster block of its configuration.
func stockTLS(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node stock-tls", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		dir   string
		hosts hostList
	)
	fs.StringVar(&dir, "dir", "", "directory to write the files into")
	fs.Var(&hosts, "host", "an address the stock server is dialled at (repeatable)")
	// Read by options.FromArgsEnv, as the node reads them.
	forwarded := []string{"secret_file", "accepted_secrets_file", "cluster_name", "cluster", "routes"}
	for _, n := range forwarded {
		fs.String(n, "", n)
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "node stock-tls: "+format+"\n", a...)
		if code == 2 {
			fmt.Fprint(stderr, "\n"+usage)
		}
		return code
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return fail(2, "%v", err)
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q", fs.Arg(0))
	}
	if dir == "" {
		return fail(2, "--dir is required")
	}
	var fwd []string
	fs.Visit(func(f *flag.Flag) {
		for _, n := range forwarded {
			if f.Name == n {
				fwd = append(fwd, "--"+n+"="+f.Value.String())
			}
		}
	})
	opts, err := options.FromArgsEnv(fwd, lookupEnv)
	if err != nil {
		return fail(2, "%v", err)
	}
	if opts.Secret == "" {
		return fail(2, "needs the mesh's secret: --secret_file PATH or %s", options.EnvSecret)
	}
	abs, err := filepath.Abs(dir) // the block must work from any directory
	if err != nil {
		return fail(1, "%v", err)
	}
	files, err := mesh.WriteStockRouteFiles(abs, opts, hosts...)
	if err != nil {
		return fail(1, "%v", err)
	}

	fmt.Fprintf(stdout, "# wrote %s, %s and %s (the key: mode 0600)\n",
		files.CAFile, files.CertFile, files.KeyFile)
	fmt.Fprintf(stdout, "# the cluster block of the stock nats-server's configuration (nats-server -c FILE):\n")
	cluster := opts.Cluster
	if cluster == "" {
		cluster = options.DefaultCluster
	}
	fmt.Fprintf(stdout, "cluster {\n  name: %s\n", strconv.Quote(cluster))
	if opts.ClusterPort != 0 || opts.ClusterHost != "" {
		host := "0.0.0.0"
		if opts.ClusterHost != "" {
			// FromArgsEnv keeps a go-sockaddr template as it is; the stock
			// server needs the address it stands for.
			n, err := opts.Normalize()
			if err != nil {
				return fail(2, "%v", err)
			}
			host = n.ClusterHost
		}
		port := opts.ClusterPort
		if port == 0 {
			port = -1 // nats-server's free port
		}
		fmt.Fprintf(stdout, "  listen: %s\n", strconv.Quote(net.JoinHostPort(host, strconv.Itoa(port))))
	}
	if opts.Seed != "" {
		var routes []string
		for _, r := range append([]string{opts.Seed}, opts.ExtraSeeds...) {
			routes = append(routes, strconv.Quote(r))
		}
		fmt.Fprintf(stdout, "  routes: [%s]\n", strings.Join(routes, ", "))
	}
	for _, line := range strings.Split(strings.TrimSuffix(files.ClusterTLS(), "\n"), "\n") {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	fmt.Fprintf(stdout, "}\n")
	return 0
}
