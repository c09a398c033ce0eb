package app_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/cmd/barge/app"
)

// jumpClock is the real clock moved forward by Jump, shared by every
// server of a test; a jump runs at once the timers it carries past their
// time (the real timer runs them otherwise), so a TTL expires without a
// wait.
type jumpClock struct {
	off    atomic.Int64
	mu     sync.Mutex
	timers []*jumpTimer // not yet run or stopped (pruned at Jump)
}

type jumpTimer struct {
	at   time.Time
	f    func()
	t    *time.Timer
	done atomic.Bool // ran or stopped
}

func (c *jumpClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *jumpClock) AfterFunc(d time.Duration, f func()) broker.Timer {
	jt := &jumpTimer{at: c.Now().Add(d), f: f}
	c.mu.Lock()
	c.timers = append(c.timers, jt)
	c.mu.Unlock()
	jt.t = time.AfterFunc(d, jt.run)
	return jt
}

func (jt *jumpTimer) run() {
	if jt.done.CompareAndSwap(false, true) {
		jt.f()
	}
}

func (jt *jumpTimer) Stop() bool {
	if jt.t != nil {
		jt.t.Stop()
	}
	return jt.done.CompareAndSwap(false, true)
}

// Jump moves the clock d forward and runs the timers now due.
func (c *jumpClock) Jump(d time.Duration) {
	c.off.Add(int64(d))
	now := c.Now()
	c.mu.Lock()
	var due, keep []*jumpTimer
	for _, jt := range c.timers {
		switch {
		case jt.done.Load():
		case !jt.at.After(now):
			due = append(due, jt)
		default:
			keep = append(keep, jt)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, jt := range due {
		go jt.run()
	}
}

// TestJSMsgTTLReplicated: per-message TTL and subject delete markers on an
// R3 stream. The expiry is decided by the leader and replicated as a
// delete, or as a delete marker that rolls the subject up, so every
// replica ends with the same messages; a member restarted afterwards
// learns the TTLs from its log and holds the same.
func TestJSMsgTTLReplicated(t *testing.T) {
	clock := &jumpClock{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tune, _, _ := raftMembers(t, 3, func(_ int, c *app.Config) { c.Clock = clock })
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	nc := connect(t, apps[0])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "TTL3", Subjects: []string{"ttl.>"}, Replicas: 3,
		AllowDirect: true, SubjectDeleteMarkerTTL: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	pub := func(subj, ttl string) {
		t.Helper()
		m := nats.NewMsg(subj)
		m.Data = []byte(subj)
		if ttl != "" {
			m.Header.Set("Nats-TTL", ttl)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	pub("ttl.a", "1s") // raised to the marker TTL: 30s
	pub("ttl.b", "never")
	pub("ttl.c", "100s")
	pub("ttl.c", "")
	m := nats.NewMsg("ttl.x")
	m.Header.Set("Nats-TTL", "soon")
	if _, err := js.PublishMsg(ctx, m); err == nil || !strings.Contains(err.Error(), "invalid per-message TTL") {
		t.Fatalf("invalid TTL: %v", err)
	}

	// 1 ttl.a, 2 ttl.b, 3 ttl.c (100s), 4 ttl.c. At 30s ttl.a becomes a
	// marker (seq 5), which expires at 60s leaving none; at 100s the first
	// ttl.c is deleted (ttl.c has another message: no marker). The real
	// clock moves on too: the margins cover a slow machine.
	clock.Jump(31 * time.Second)
	want := "1 -\n2 ttl.b  ttl.b\n3 ttl.c  ttl.c\n4 ttl.c  ttl.c\n5 ttl.a  \n"
	sameEverywhere(t, apps, "TTL3", 5, want)
	clock.Jump(31 * time.Second)
	want = "1 -\n2 ttl.b  ttl.b\n3 ttl.c  ttl.c\n4 ttl.c  ttl.c\n5 -\n"
	sameEverywhere(t, apps, "TTL3", 5, want)
	clock.Jump(40 * time.Second)
	want = "1 -\n2 ttl.b  ttl.b\n3 -\n4 ttl.c  ttl.c\n5 -\n"
	sameEverywhere(t, apps, "TTL3", 5, want)

	// A restarted member rebuilds from its log and still agrees.
	stopApp(t, apps[2])
	apps[2] = startClusterNode(t, 2, apps[:2], tune)
	pub("ttl.d", "40s")
	clock.Jump(41 * time.Second)
	want = "1 -\n2 ttl.b  ttl.b\n3 -\n4 ttl.c  ttl.c\n5 -\n6 -\n7 ttl.d  \n"
	sameEverywhere(t, apps, "TTL3", 7, want)
}

// sameEverywhere waits until every member's own copy of stream holds want
// (replicaContents of sequences 1..last).
func sameEverywhere(t *testing.T, apps []*app.App, stream string, last int, want string) {
	t.Helper()
	for i, a := range apps {
		nc := connect(t, a)
		eventually(t, 30*time.Second, "a replica serving "+stream, func() bool {
			_, err := directGet(nc, stream, 1)
			return err == nil
		})
		var got string
		deadline := time.NewTimer(20 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		for got = replicaContents(t, nc, stream, last); got != want; got = replicaContents(t, nc, stream, last) {
			select {
			case <-deadline.C:
				t.Fatalf("replica %d of %s:\n%s\nwant\n%s", i+1, stream, got, want)
			case <-tick.C:
			}
		}
		deadline.Stop()
		tick.Stop()
		nc.Close()
	}
}

// TestJSKVLimitMarkersReplicated: a KV bucket with LimitMarkerTTL on three
// replicas (nats.go's jetstream KeyValue): a key created with KeyTTL
// expires on every replica and leaves the same marker, which a Get through
// any member reports as a missing key.
func TestJSKVLimitMarkersReplicated(t *testing.T) {
	clock := &jumpClock{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tune, _, _ := raftMembers(t, 3, func(_ int, c *app.Config) { c.Clock = clock })
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	js, err := jetstream.New(connect(t, apps[0]))
	if err != nil {
		t.Fatal(err)
	}
	var kv jetstream.KeyValue
	for {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "lm3", LimitMarkerTTL: 30 * time.Second, Replicas: 3})
		var ae *jetstream.APIError
		if err == nil || !errors.As(err, &ae) || ae.ErrorCode != 10008 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(40*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "stay", []byte("s")); err != nil {
		t.Fatal(err)
	}
	clock.Jump(41 * time.Second)
	sameEverywhere(t, apps, "KV_lm3", 3, "1 -\n2 $KV.lm3.stay  s\n3 $KV.lm3.k  \n")
	for _, a := range apps {
		kvm, err := jetstream.New(connect(t, a))
		if err != nil {
			t.Fatal(err)
		}
		b, err := kvm.KeyValue(ctx, "lm3")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("expired key through %s: %v", a.ClientURL(), err)
		}
	}
}
