package meshbench

import "time"

// Order says how TimeFormationOrder starts a cluster's nodes.
type Order int

const (
	// Concurrent starts node 0, then the others at once (Form).
	Concurrent Order = iota
	// Sequential starts one node after another (FormSequential).
	Sequential
)

// String returns "sequential" or "concurrent".
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
