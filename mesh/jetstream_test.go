package mesh

import (
	"testing"

	"github.com/natsmesh/natsmesh/options"
)

// TestNodeID checks nodeID against nats-server's own: WaitForJetStream
// recognises meta-group members by it.
func TestNodeID(t *testing.T) {
	n, err := Start(options.Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if got, want := nodeID(n.Name()), n.srv.Node(); got != want {
		t.Errorf("nodeID(%q) = %q, nats-server says %q", n.Name(), got, want)
	}
}
