package jetstream

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/bargemq/barge/codec/jsapi"
)

// Placement of single-replica streams in a cluster.
//
// In a clustered engine a file-stored stream with num_replicas 1 (or none)
// is defined in the meta shard like a replicated one and stored as a
// one-member raft shard, so every node knows it: the API answers about it
// on any node (forward.go) and a publish on a node without it is routed to
// its member (nonmember.go). Its member is the meta member holding the
// fewest streams, the node that received the create winning a tie, so a
// client's new stream lands on its own node while the nodes stay even.
//
// Not placed: memory-stored R1 streams (replicas keep their log on disk)
// and per-node R1 streams found on disk from before, or created while a
// per-node stream of that name exists; they stay per node as without a
// cluster (other nodes do not see them).

// placedR1 reports whether a STREAM.CREATE of req (num_replicas 0 or 1)
// goes through the meta shard.
func (e *Engine) placedR1(req *jsapi.StreamConfig) bool {
	if req.Replicas > 1 || req.Replicas < 0 || req.Storage == jsapi.MemoryStorage {
		return false
	}
	if old := e.lookup(req.Name); old != nil && old.repl == nil {
		return false // a per-node stream of that name: served by createStream
	}
	return true
}

// placeOne picks the member of a new single-replica stream: the meta
// member with the fewest placed streams, preferring this node and then the
// one the shard id points at among equals. When the meta shard cannot be
// read, every member counts as empty.
func (e *Engine) placeOne(ctx context.Context, cs *clusterState, members map[uint64]string, shardID uint64) map[uint64]string {
	load := make(map[uint64]int, len(members))
	if vals, err := cs.c.MetaList(ctx, streamKeyPrefix); err == nil {
		for _, v := range vals {
			var d replDef
			if json.Unmarshal(v, &d) != nil {
				continue
			}
			for id := range d.Members {
				load[id]++
			}
		}
	}
	id := leastLoaded(members, load, cs.c.NodeID(), shardID)
	return map[uint64]string{id: members[id]}
}

// leastLoaded returns the member with the lowest load; among equals self
// when it is one, else the first in id order from the offset shardID names
// (placement's spread).
func leastLoaded(members map[uint64]string, load map[uint64]int, self, shardID uint64) uint64 {
	ids := make([]uint64, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	start := int(shardID % uint64(len(ids)))
	best, bestLoad := uint64(0), -1
	for i := range ids {
		id := ids[(start+i)%len(ids)]
		if l := load[id]; bestLoad < 0 || l < bestLoad {
			best, bestLoad = id, l
		}
	}
	if _, ok := members[self]; ok && load[self] == bestLoad {
		return self
	}
	return best
}
