package mesh

// lostReaper removes peers that stay lost for Options.RemoveLostAfter from
// the JetStream meta group.
type lostReaper struct{}

func (r *lostReaper) stop() {}
