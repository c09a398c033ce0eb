package raft

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

// An atomic batch (small messages inline, a large one chunked) is stored
// on every replica as consecutive sequences; one refused by the rules at
// its last message stores nothing and uses no sequence; the same atomic
// entry proposed again (a retry of one that committed) is answered with
// the original sequences and stores nothing more.
func TestStreamAtomicBatch(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id, h := range c.hosts {
		s, err := h.StartStreamShard(21, c.addrs, false, c.streamDir(id, 21),
			StreamOptions{Log: log.Options{Checker: opaqueChecker{}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		shards[id] = s
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(21) != 0 })
	type result struct {
		seq uint64
		err error
	}
	submit := func(via uint64, msgs []*Message) result {
		t.Helper()
		ch := make(chan result, 1)
		shards[via].SubmitBatch(msgs, func(seq uint64, _ int64, err error) { ch <- result{seq, err} })
		select {
		case r := <-ch:
			return r
		case <-time.After(60 * time.Second):
			t.Fatal("batch not answered")
			return result{}
		}
	}
	large := bytes.Repeat([]byte("L"), 3<<20+7)
	ok := []*Message{
		{Subject: "s.1", Data: []byte("one"), Size: 3},
		{Subject: "s.2", Body: bytes.NewReader(large), Size: int64(len(large))},
		{Subject: "s.3", Hdr: []byte("last=2"), Data: []byte("three"), Size: 5},
	}
	if r := submit(2, ok); r.err != nil || r.seq != 3 {
		t.Fatalf("batch: %+v", r)
	}
	want := map[uint64][]byte{1: []byte("one"), 2: large, 3: []byte("three")}
	for _, s := range shards {
		checkReplica(t, s, want)
	}
	refused := []*Message{
		{Subject: "s.4", Data: []byte("four"), Size: 4},
		{Subject: "s.5", Body: bytes.NewReader(large), Size: int64(len(large))},
		{Subject: "s.6", Hdr: []byte("last=0"), Data: []byte("six"), Size: 3},
	}
	var ce *log.CheckError
	if r := submit(1, refused); !errors.As(r.err, &ce) || ce.Code != 7 {
		t.Fatalf("refused batch: %+v", r)
	}
	// The same atomic entry twice: stored once.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var items []*pubItem
	for i, d := range []string{"four", "five"} {
		it := &pubItem{data: []byte(d), c: log.Commit{ID: 7000 + uint64(i), Subject: "s." + string(rune('4'+i)), Size: int64(len(d)), Chunks: 1}}
		it.crc = chunking.Checksum(it.data)
		it.c.Digest = log.ChunkDigest(0, it.crc)
		items = append(items, it)
	}
	cmd := shards[1].appendGroup(nil, 4343, 1, 1, items)
	cmd[0] = kindAtomic
	for i := range 2 {
		res, err := shards[1].propose(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if errOf(res) != nil || res.Value != 5 || (i == 1) != (res.Data[0] == codeDuplicate) {
			t.Fatalf("proposal %d: code %d value %d", i, res.Data[0], res.Value)
		}
	}
	want[4], want[5] = []byte("four"), []byte("five")
	for _, s := range shards {
		checkReplica(t, s, want)
		eventually(t, 30*time.Second, "nothing more", func() bool { return lastSeq(s) == 5 })
		if n, _ := s.ReadLocal(func(l *log.Log) (any, error) { return l.PendingChunks(), nil }); n != 0 {
			t.Fatalf("pending chunks after the batches: %v", n)
		}
	}
}
