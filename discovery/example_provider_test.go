package discovery_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/natsmesh/natsmesh/discovery"
)

// A fixed list of seeds, checked when the provider is made.
func ExampleStatic() {
	seeds, err := discovery.Static("nats://10.0.0.5:4248", "nats://10.0.0.6:4248")
	if err != nil {
		fmt.Println(err)
		return
	}
	urls, err := seeds.Discover(context.Background())
	fmt.Println(urls, err)

	_, err = discovery.Static("10.0.0.7:4248")
	fmt.Println(err)
	// Output:
	// [nats://10.0.0.5:4248 nats://10.0.0.6:4248] <nil>
	// natsmesh: seed discovery: static seed 0: bad seed URL "10.0.0.7:4248": no scheme; write nats://host:port
}

// Seeds kept in a file, one URL per line, that configuration management
// may rewrite at any time.
func ExampleFile() {
	dir, err := os.MkdirTemp("", "seeds")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "seeds")
	_ = os.WriteFile(path, []byte(`# the orders mesh
nats://10.0.0.5:4248
nats://10.0.0.6:4248  # node b
`), 0o644)

	seeds := &discovery.File{Path: path}
	urls, err := seeds.Discover(context.Background())
	fmt.Println(urls, err)

	_ = os.WriteFile(path, []byte("nats://10.0.0.5:4248\n10.0.0.7:4248\n"), 0o644)
	_, err = seeds.Discover(context.Background())
	fmt.Println(strings.ReplaceAll(err.Error(), dir, "$DIR"))
	// Output:
	// [nats://10.0.0.5:4248 nats://10.0.0.6:4248] <nil>
	// natsmesh: seed discovery: seed file "$DIR/seeds" line 2: bad seed URL "10.0.0.7:4248": no scheme; write nats://host:port
}

// One name, a record per node: a Kubernetes headless service.
func ExampleDNS() {
	seeds := discovery.DNS{Name: "nats.orders.svc.cluster.local.", Port: 4248}
	urls, err := seeds.Discover(context.Background())
	fmt.Println(urls, err) // e.g. [nats://10.1.0.4:4248 nats://10.1.0.9:4248] <nil>
}
