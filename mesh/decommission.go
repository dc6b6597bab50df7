package mesh

import "context"

// Decommission is a stub.
func (n *Node) Decommission(ctx context.Context) error {
	if !n.js.on {
		return ErrNoJetStream
	}
	return n.Leave(ctx)
}
