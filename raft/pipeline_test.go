package raft

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

// Messages submitted to one replica, small and large mixed and without
// waiting for each other, are stored in submission order: on the leader
// and on a follower (whose proposals Dragonboat forwards), with every
// payload intact on every replica.
func TestStreamSubmitKeepsOrder(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id := range c.hosts {
		shards[id] = c.startStream(id, 14)
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(14) != 0 })
	leader := c.leader(14)
	follower := leader%3 + 1
	const n = 60
	want := map[uint64][]byte{}
	var next uint64
	for _, from := range []uint64{leader, follower} {
		type result struct {
			i   int
			seq uint64
			err error
		}
		results := make(chan result, n)
		sent := make([][]byte, n)
		for i := range n {
			size := 1000 + i
			if i%7 == 3 {
				size = 2<<20 + 1234 // three chunk entries
			}
			sent[i] = payload(int(from)*1000+i, size)
			m := &Message{Subject: fmt.Sprint("s.", next+uint64(i)+1), Size: int64(size)}
			if i%2 == 0 {
				m.Data = sent[i]
			} else {
				m.Body = bytes.NewReader(sent[i])
			}
			shards[from].Submit(m, func(seq uint64, _ int64, err error) { results <- result{i, seq, err} })
		}
		for range n {
			r := <-results
			if r.err != nil {
				t.Fatalf("from %d: message %d: %v", from, r.i, r.err)
			}
			if want := next + uint64(r.i) + 1; r.seq != want {
				t.Fatalf("from %d: message %d stored as %d, want %d (out of order)", from, r.i, r.seq, want)
			}
			want[r.seq] = sent[r.i]
		}
		next += n
	}
	if q := shards[leader].QueuedBytes() + shards[follower].QueuedBytes(); q != 0 {
		t.Fatalf("%d bytes still counted as queued", q)
	}
	for _, s := range shards {
		checkReplica(t, s, want)
	}
}

// A group entry that commits a large message's chunks, proposed twice (a
// retry after a timeout that had in fact committed), stores it once.
func TestStreamGroupRetryStoresOnce(t *testing.T) {
	c := newCluster(t, 3, nil)
	s := c.startStream(1, 15)
	for id := range c.hosts {
		if id != 1 {
			c.startStream(id, 15)
		}
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(15) != 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := payload(8, 3000)
	large := &pubItem{large: true, size: int64(len(data)), c: log.Commit{ID: 777, Subject: "s.1", Size: int64(len(data))}}
	for i := 0; i < 3; i++ {
		part := data[i*1000 : (i+1)*1000]
		h := chunkHeader(large.c.ID, i, 3, part)
		large.c.Chunks++
		large.c.Digest = log.ChunkDigest(large.c.Digest, h.CRC)
		if res, err := s.propose(ctx, appendChunk(nil, h, part)); err != nil || res.Data[0] != codeOK {
			t.Fatalf("chunk: %v %v", res, err)
		}
	}
	small := &pubItem{data: []byte("tiny"), c: log.Commit{ID: 778, Subject: "s.2", Size: 4, Chunks: 1}}
	small.crc = chunking.Checksum(small.data)
	small.c.Digest = log.ChunkDigest(0, small.crc)
	items := []*pubItem{large, small}
	cmd := s.appendGroup(nil, 888, 1, 1, items)
	for round := range 2 {
		res, err := s.propose(ctx, cmd)
		if err == nil {
			err = splitBatchResult(res, items)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if seq, _, err := it.resultOf(); err != nil || seq != uint64(i+1) {
				t.Fatalf("round %d item %d: seq %d, %v", round, i, seq, err)
			}
		}
	}
	checkReplica(t, s, map[uint64][]byte{1: data, 2: []byte("tiny")})

	// A large message whose body fails is answered with the error and
	// stores nothing; what was submitted around it keeps its order.
	type result struct {
		seq uint64
		err error
	}
	results := make(chan result, 3)
	done := func(seq uint64, _ int64, err error) { results <- result{seq, err} }
	s.Submit(&Message{Subject: "s.3", Data: []byte("before"), Size: 6}, done)
	s.Submit(&Message{Subject: "s.x", Body: bytes.NewReader(make([]byte, 100<<10)), Size: 3 << 20}, done)
	s.Submit(&Message{Subject: "s.4", Data: []byte("after"), Size: 5}, done)
	if r := <-results; r.err != nil || r.seq != 3 {
		t.Fatalf("before: %+v", r)
	}
	if r := <-results; r.err == nil {
		t.Fatalf("short body stored as %d", r.seq)
	}
	if r := <-results; r.err != nil || r.seq != 4 {
		t.Fatalf("after: %+v", r)
	}
	checkReplica(t, s, map[uint64][]byte{3: []byte("before"), 4: []byte("after")})
	eventually(t, 10*time.Second, "the failed message's chunks dropped", func() bool {
		v, err := s.ReadLocal(func(l *log.Log) (any, error) { return l.PendingChunks(), nil })
		return err == nil && v.(int) == 0
	})
}

// Losing the leader while a follower's pipeline has an entry out to it
// holds that follower's queue for about an election and one pipeline
// attempt, not the 10 s proposal timeout, and every message is stored
// once, in submission order.
func TestStreamPipelineLeaderLoss(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id := range c.hosts {
		shards[id] = c.startStream(id, 16)
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(16) != 0 })
	leader := c.leader(16)
	f := shards[leader%3+1]
	const n = 400
	type result struct {
		i   int
		seq uint64
		err error
	}
	results := make(chan result, n)
	stopped := make(chan struct{})
	defer func() { <-stopped }() // c.hosts is the test's again
	for i := range n {
		f.Submit(&Message{Subject: fmt.Sprint("s.", i), Data: payload(i, 2000), Size: 2000},
			func(seq uint64, _ int64, err error) { results <- result{i, seq, err} })
		if i == n/2 {
			go func() {
				defer close(stopped)
				c.stop(leader)
			}()
		}
	}
	start := time.Now()
	seqs := make([]uint64, n)
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("message %d: %v", r.i, r.err)
		}
		seqs[r.i] = r.seq
	}
	took := time.Since(start)
	t.Logf("all %d stored %v after the leader began to stop", n, took.Round(time.Millisecond))
	if took > 4500*time.Millisecond { // it was 5 s and more with 10 s attempts
		t.Fatalf("the queue waited %v for a lost leader", took)
	}
	for i := 1; i < n; i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("message %d stored as %d after %d", i, seqs[i], seqs[i-1])
		}
	}
}
