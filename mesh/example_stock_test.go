package mesh_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/options"
)

// A stock nats-server joins a mesh sealed by a Secret with route TLS files
// made from it: an authority file, a certificate for the addresses it is
// dialled at, and its key. ClusterTLS gives the block for its
// configuration file. The secret itself is not written.
func ExampleWriteStockRouteFiles() {
	secret := options.NewSecret() // the mesh's, from where the nodes get theirs
	dir, err := os.MkdirTemp("", "stock-routes-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	files, err := mesh.WriteStockRouteFiles(dir, options.Options{Secret: secret}, "10.0.0.9")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(files.ClusterTLS(), dir, "/etc/nats"))
	// Output:
	// tls {
	//   cert_file: "/etc/nats/route-cert.pem"
	//   key_file: "/etc/nats/route-key.pem"
	//   ca_file: "/etc/nats/route-ca.pem"
	//   verify: true
	//   timeout: 2
	// }
}
