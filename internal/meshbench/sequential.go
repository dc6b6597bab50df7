package meshbench

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsmesh/natsmesh/mesh"
	"github.com/natsmesh/natsmesh/mesh/meshtest"
	"github.com/natsmesh/natsmesh/options"
)

// FormSequential starts an n-node cluster of the given kind (Mesh or Raw)
// the way a user's code naturally does, one node after another, and
// returns it once it is a full mesh, with how long that took. Node 0
// starts first; node i starts once node i-1's start has returned, told
// only node 0's route URL.
//
// Mesh: mesh.Start for each node in turn, then WaitForPeers(n-1) on each.
// Raw: StartRawServer for each in turn (each waiting in
// ReadyForConnections, as documented), then until every server's Routez
// lists n-1 distinct remote server IDs (polled every 200 µs).
//
// Form is the concurrent counterpart. On error nothing is left running;
// the caller closes the cluster.
func FormSequential(kind Kind, n int) (*Cluster, time.Duration, error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("meshbench: %d nodes, want at least 1", n)
	}
	if kind != Mesh && kind != Raw {
		return nil, 0, fmt.Errorf("meshbench: sequential formation of %s, want %s or %s", kind, Mesh, Raw)
	}
	c := &Cluster{Kind: kind, Servers: make([]*server.Server, n)}
	start := time.Now()
	var err error
	if kind == Raw {
		err = c.formRawSequential(n)
	} else {
		err = c.formMeshSequential(n)
	}
	d := time.Since(start)
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	return c, d, nil
}

func (c *Cluster) formMeshSequential(n int) error {
	c.Nodes = make([]*mesh.Node, n)
	seed := ""
	for i := range n {
		node, err := mesh.Start(options.Options{Name: meshtest.Name(i), Seed: seed})
		if err != nil {
			return fmt.Errorf("meshbench: node %d: %w", i, err)
		}
		c.Nodes[i], c.Servers[i] = node, node.Server()
		if i == 0 {
			seed = node.ClusterURL()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	for i, node := range c.Nodes {
		if err := node.WaitForPeers(ctx, n-1); err != nil {
			return fmt.Errorf("meshbench: node %d: %w", i, err)
		}
	}
	return nil
}

func (c *Cluster) formRawSequential(n int) error {
	var seed *url.URL
	for i := range n {
		s, err := StartRawServer(i, seed)
		if err != nil {
			return err
		}
		c.Servers[i] = s
		if i == 0 {
			seed = &url.URL{Scheme: "nats", Host: s.ClusterAddr().String()}
		}
	}
	return waitRawMesh(c.Servers, Wait)
}

// Order says how FormationOrder starts a cluster's nodes.
type Order int

const (
	// Concurrent starts node 0, then the others at once (Form).
	Concurrent Order = iota
	// Sequential starts one node after another (FormSequential).
	Sequential
)

func (o Order) String() string {
	if o == Sequential {
		return "sequential"
	}
	return "concurrent"
}

// TimeFormationOrder forms an n-node cluster of the given kind, started in
// the given order, closes it, and returns how long forming took.
func TimeFormationOrder(kind Kind, n int, o Order) (time.Duration, error) {
	form := Form
	if o == Sequential {
		form = FormSequential
	}
	c, d, err := form(kind, n)
	if err != nil {
		return 0, err
	}
	c.Close()
	return d, nil
}
