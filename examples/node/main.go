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
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := options.FromArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(options.Usage())
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n\n%s", err, options.Usage())
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
	opts.Hooks = options.Hooks{
		PeerJoined: func(p mesh.Peer) {
			fmt.Printf("%s  + %-10s joined   routes %s  clients %v\n", stamp(), p.Name, p.ClusterURL, p.ClientURLs)
		},
		PeerLeft: func(p mesh.Peer, why mesh.LeaveReason) {
			fmt.Printf("%s  - %-10s %s\n", stamp(), p.Name, why)
		},
	}

	node, err := mesh.Start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
		return 1
	}
	fmt.Printf("%s  node %s ready: clients %s  routes %s\n", stamp(), node.Name(), node.ClientURL(), node.ClusterURL())
	if u := node.MonitorURL(); u != "" {
		fmt.Printf("%s  monitoring on %s/varz\n", stamp(), u)
	}
	if opts.JetStream {
		go func() {
			// Ready once the meta group has a leader: with a second node.
			if err := node.WaitForJetStream(context.Background()); err == nil {
				fmt.Printf("%s  JetStream ready\n", stamp())
			}
		}()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	fmt.Printf("%s  %v: leaving the mesh\n", stamp(), s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.Leave(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
		return 1
	}
	fmt.Printf("%s  node %s left\n", stamp(), node.Name())
	return 0
}
