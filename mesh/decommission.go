package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// JetStream API subjects of the system account that Decommission uses.
const (
	jsEvacuateSubject   = "$JS.API.SERVER.EVACUATE"
	jsRemoveSubject     = "$JS.API.SERVER.REMOVE"
	jsMetaStepDown      = "$JS.API.META.LEADER.STEPDOWN"
	jsAPIAttemptTimeout = 2 * time.Second
	jsAPIRetryWait      = 50 * time.Millisecond
	// evacuateStall is how long Decommission waits for this node's
	// stream replicas to move while none moves: a stream with no other
	// node to move to keeps its replica here until the node leaves.
	evacuateStall = 2 * time.Second
)

// jsErrNotMember is JetStream's "server is not a member of the cluster".
const jsErrNotMember = 10044

// Decommission takes the node out of the mesh for good. It asks the
// JetStream meta leader to move this node's stream replicas to other nodes
// (where there are nodes that do not hold one yet), hands the meta
// leadership over if it holds it, has the node removed from the meta group
// (retried through the leader changes this causes and through lost
// replies) and then leaves like Leave. Afterwards the remaining nodes reach
// quorum without it: in a four-node mesh, after d is decommissioned, c can
// be lost and a and b still create streams.
//
// A node whose name was decommissioned is kept out of the meta group for
// five minutes (nats-server's peer-remove timeout) if it comes back:
// Start succeeds, but its WaitForJetStream (and the other nodes', since
// they see a JetStream peer outside the meta group) waits until then. Give
// a node that comes back sooner a new name: an empty store does not help,
// the raft layer knows a node by a hash of its name.
//
// Without Options.JetStream, Decommission returns ErrNoJetStream; on a
// stopped node, ErrShutdown. If ctx ends first, the node shuts down and
// ctx's error is returned, saying which step did not complete.
func (n *Node) Decommission(ctx context.Context) error {
	if !n.js.on {
		return ErrNoJetStream
	}
	select {
	case <-n.closed:
		return ErrShutdown
	default:
	}
	n.log.decommissioning.Store(true)
	log := n.log.log.With("decommission", n.Name())
	if err := n.leaveMetaGroup(ctx, log); err != nil {
		n.log.decommissioning.Store(false)
		if ctx.Err() != nil {
			n.Shutdown()
		}
		return err
	}
	return n.Leave(ctx)
}

// leaveMetaGroup evacuates this node's replicas, hands over its meta
// leadership and removes it from the meta group.
func (n *Node) leaveMetaGroup(ctx context.Context, log *slog.Logger) error {
	name := n.Name()
	req, _ := json.Marshal(server.JSApiMetaServerRemoveRequest{Server: name})

	// Move the replicas away first, while the node still serves them.
	if err := n.jsAPI(ctx, jsEvacuateSubject, req, true); err != nil {
		return fmt.Errorf("natsmesh: decommission %s: evacuate: %w", name, err)
	}
	before := n.localStreams()
	log.Info("natsmesh: moving stream replicas away", "streams", before)
	n.waitEvacuated(ctx, before)

	if n.srv.JetStreamIsLeader() {
		if err := n.jsAPI(ctx, jsMetaStepDown, nil, false); err != nil {
			return fmt.Errorf("natsmesh: decommission %s: meta leader step-down: %w", name, err)
		}
		// The removal goes to the next leader: wait for it (briefly).
		deadline := time.Now().Add(jsAPIAttemptTimeout)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if meta, _ := n.metaGroup(); meta != nil && meta.Leader != "" && meta.Leader != name {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := n.jsAPI(ctx, jsRemoveSubject, req, true); err != nil {
		return fmt.Errorf("natsmesh: decommission %s: removal from the meta group: %w", name, err)
	}
	log.Info("natsmesh: removed from the JetStream meta group")
	// nats-server disables JetStream on a removed server; wait for it
	// (briefly), so its streams are stopped before the node leaves.
	deadline := time.Now().Add(5 * time.Second)
	for n.srv.JetStreamEnabled() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// jsAPI sends a request to the meta leader over the system account,
// retrying until ctx ends: while there is no leader to answer, the reply
// was lost, another membership change is under way, or the meta group is
// temporarily unavailable. With notMemberDone, "not a member" counts as
// success: a retry after a lost reply to a removal that went through, or
// a node already removed.
func (n *Node) jsAPI(ctx context.Context, subject string, req []byte, notMemberDone bool) error {
	for {
		err := n.jsAPIOnce(ctx, subject, req)
		var apiErr *server.ApiError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &apiErr) && apiErr.ErrCode == jsErrNotMember && notMemberDone:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-time.After(jsAPIRetryWait):
		}
	}
}

func (n *Node) jsAPIOnce(ctx context.Context, subject string, req []byte) error {
	ctx, cancel := context.WithTimeout(ctx, jsAPIAttemptTimeout)
	defer cancel()
	msg, err := n.sys.nc.RequestWithContext(ctx, subject, req)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("no meta leader answered: %w", err)
		}
		return err
	}
	var resp struct {
		Error *server.ApiError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("reply to %s: %w", subject, err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	return nil
}

// localStreams is how many stream replicas this node holds.
func (n *Node) localStreams() int {
	jsz, err := n.srv.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil || jsz == nil {
		return 0
	}
	count := 0
	for _, acc := range jsz.AccountDetails {
		count += len(acc.Streams)
	}
	return count
}

// waitEvacuated waits until this node holds no stream replica, or none
// has moved for evacuateStall (the rest have nowhere to go), or ctx ends.
func (n *Node) waitEvacuated(ctx context.Context, left int) {
	progress := time.Now()
	for left > 0 && time.Since(progress) < evacuateStall && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		if now := n.localStreams(); now < left {
			left, progress = now, time.Now()
		}
	}
}
