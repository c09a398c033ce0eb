package raft

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

func TestPipeTable(t *testing.T) {
	tab := make(pipeTable)
	steps := []struct {
		pipe, seq, base uint64
		ok              bool
	}{
		{1, 2, 1, false}, // its predecessor is not applied
		{1, 1, 1, true},
		{1, 2, 1, true},
		{1, 2, 1, true},  // again: a retry, applied as duplicates
		{1, 4, 3, false}, // 3 missing
		{1, 4, 4, true},  // no unsettled predecessor
		{2, 7, 7, true},  // a pipeline the table does not know, with nothing before
		{2, 9, 8, false},
	}
	for i, s := range steps {
		if got := tab.accept(s.pipe, s.seq, s.base, uint64(10+i)); got != s.ok {
			t.Fatalf("step %d %+v: %v", i, s, got)
		}
	}
	back, err := parsePipeTable(tab.encode(nil))
	if err != nil || len(back) != 2 || back[1].seq != 4 || back[2].seq != 7 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for id := uint64(100); id < 100+maxPipes; id++ {
		tab.accept(id, 1, 1, 1000+id)
	}
	if len(tab) != maxPipes {
		t.Fatalf("%d pipelines kept", len(tab))
	}
	if _, ok := tab[1]; ok {
		t.Fatal("the least recent pipeline was not evicted")
	}
}

// A group that reaches the replicas before its predecessor is refused as a
// whole; once the predecessor is applied it is taken, after it. The order
// table survives a restart of every replica (it travels in the applied
// markers), so the decisions after it are the same.
func TestStreamGroupsApplyInOrder(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id := range c.hosts {
		shards[id] = c.startStream(id, 16)
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(16) != 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const pipe = 4242
	// Group seq carries one message with subject s.<stored seq> (the
	// sequence it should get) and data.
	group := func(seq, base, stored uint64, data string) ([]byte, []*pubItem) {
		subj := fmt.Sprint("s.", stored)
		it := &pubItem{data: []byte(data), c: log.Commit{ID: 5000 + seq, Subject: subj, Size: int64(len(data)), Chunks: 1}}
		it.crc = chunking.Checksum(it.data)
		it.c.Digest = log.ChunkDigest(0, it.crc)
		items := []*pubItem{it}
		return shards[1].appendGroup(nil, pipe, seq, base, items), items
	}
	propose := func(cmd []byte, items []*pubItem) (byte, uint64) {
		t.Helper()
		res, err := shards[1].propose(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if res.Data[0] != codeOK {
			return res.Data[0], 0
		}
		if err := splitBatchResult(res, items); err != nil {
			t.Fatal(err)
		}
		return codeOK, items[0].res.Value
	}
	g2, i2 := group(2, 1, 2, "second")
	if code, _ := propose(g2, i2); code != codeOutOfOrder {
		t.Fatalf("group 2 before 1: code %d", code)
	}
	g1, i1 := group(1, 1, 1, "first")
	if code, seq := propose(g1, i1); code != codeOK || seq != 1 {
		t.Fatalf("group 1: %d %d", code, seq)
	}
	if code, seq := propose(g2, i2); code != codeOK || seq != 2 {
		t.Fatalf("group 2 after 1: %d %d", code, seq)
	}
	for _, s := range shards {
		checkReplica(t, s, map[uint64][]byte{1: []byte("first"), 2: []byte("second")})
	}
	for id := range c.addrs {
		c.stop(id)
	}
	for id := range c.addrs {
		c.start(id)
		shards[id] = c.startStream(id, 16)
	}
	eventually(t, 30*time.Second, "a leader after the restart", func() bool { return c.leader(16) != 0 })
	// 3 with base 2 is taken only if every replica still knows 2 applied.
	g3, i3 := group(3, 2, 3, "third")
	if code, seq := propose(g3, i3); code != codeOK || seq != 3 {
		t.Fatalf("group 3 after the restart: %d %d", code, seq)
	}
	g5, i5 := group(5, 4, 4, "fifth")
	if code, _ := propose(g5, i5); code != codeOutOfOrder {
		t.Fatalf("group 5 without 4: %d", code)
	}
	for _, s := range shards {
		checkReplica(t, s, map[uint64][]byte{1: []byte("first"), 2: []byte("second"), 3: []byte("third")})
	}
}

// Many small publishes from several goroutines at once keep every
// connection's (goroutine's) order and are all stored, with groups in
// flight side by side.
func TestStreamPipelinedGroups(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id := range c.hosts {
		shards[id] = c.startStream(id, 17)
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(17) != 0 })
	s := shards[c.leader(17)]
	const conns, per = 4, 300
	type result struct {
		conn, i int
		seq     uint64
		err     error
	}
	results := make(chan result, conns*per)
	for i := range per {
		for conn := range conns {
			m := &Message{Subject: fmt.Sprint("c.", conn), Data: payload(conn*per+i, 200), Size: 200}
			s.Submit(m, func(seq uint64, _ int64, err error) { results <- result{conn, i, seq, err} })
		}
	}
	last := make([]uint64, conns)
	next := make([]int, conns)
	seen := map[uint64]bool{}
	for range conns * per {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.i != next[r.conn] || r.seq <= last[r.conn] || seen[r.seq] {
			t.Fatalf("conn %d message %d: seq %d after %d (answer %d)", r.conn, r.i, r.seq, last[r.conn], next[r.conn])
		}
		seen[r.seq] = true
		last[r.conn], next[r.conn] = r.seq, r.i+1
	}
	if len(seen) != conns*per {
		t.Fatalf("%d sequences", len(seen))
	}
}
