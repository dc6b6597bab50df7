package meshtest_test

import (
	"fmt"

	"github.com/natsmesh/natsmesh/mesh/meshtest"
)

// Form is Start for code without a *testing.T (a benchmark harness, a
// demo): it returns an error instead of failing a test, and the caller
// shuts the cluster down.
func ExampleForm() {
	c, err := meshtest.Form(3)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Shutdown()
	fmt.Printf("%d nodes; %s sees %d peers\n", len(c.Nodes), c.Nodes[0].Name(), len(c.Nodes[0].Peers()))
	// Output: 3 nodes; a sees 2 peers
}
