package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterMirrorAndSource: a replicated mirror and a replicated
// stream sourcing a replicated origin keep copying across leader changes
// of the origin, the mirror and the source stream, with no gap and no
// duplicate (the mirror's position is its last sequence, the source's its
// Nats-Stream-Source headers, both in the raft log).
func TestJSClusterMirrorAndSource(t *testing.T) {
	apps, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, t, js[1], jetstream.StreamConfig{Name: "M", Replicas: 3, Mirror: &jetstream.StreamSource{Name: "O"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, t, js[2], jetstream.StreamConfig{Name: "S", Subjects: []string{"s.own"}, Replicas: 3,
		Sources: []*jetstream.StreamSource{{Name: "O"}}}); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, apps[0])
	n := 0
	publish := func(k int) {
		for range k {
			n++
			m := nats.NewMsg(fmt.Sprintf("o.%d", n%7))
			m.Header.Set("X-N", fmt.Sprint(n))
			m.Data = []byte(fmt.Sprint("v", n))
			if _, err := js[0].PublishMsg(ctx, m); err != nil {
				t.Fatalf("publish %d: %v", n, err)
			}
		}
	}
	leader := func(name string) string {
		var l string
		eventually(t, 30*time.Second, name+" has a leader", func() bool {
			s, err := js[0].Stream(ctx, name)
			if err != nil || s.CachedInfo().Cluster == nil {
				return false
			}
			l = s.CachedInfo().Cluster.Leader
			return l != ""
		})
		return l
	}
	publish(100)
	for _, name := range []string{"O", "M", "S"} {
		stepDownStream(t, nc, name, leader(name)) // while the copies may be in flight
		publish(100)
	}
	want := uint64(n)
	for _, name := range []string{"M", "S"} {
		eventually(t, 60*time.Second, name+" caught up", func() bool {
			s, err := js[0].Stream(ctx, name)
			return err == nil && s.CachedInfo().State.Msgs >= want
		})
	}
	m, err := js[0].Stream(ctx, "M")
	if err != nil {
		t.Fatal(err)
	}
	if st := m.CachedInfo().State; st.Msgs != want || st.FirstSeq != 1 || st.LastSeq != want {
		t.Fatalf("mirror state %+v, want %d messages", st, want)
	}
	if mi := m.CachedInfo().Mirror; mi == nil || mi.Name != "O" {
		t.Fatalf("mirror info %+v", mi)
	}
	s, err := js[0].Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("S seq %d: %v", seq, err)
		}
		k := msg.Header.Get("X-N")
		if seen[k] {
			t.Fatalf("S holds message %s twice", k)
		}
		seen[k] = true
		if src := msg.Header.Get("Nats-Stream-Source"); !strings.HasPrefix(src, "O "+k+" > > o.") {
			t.Fatalf("S seq %d: Nats-Stream-Source %q", seq, src)
		}
		if seq%50 == 0 {
			mm, err := m.GetMsg(ctx, uint64(mustAtoi(t, k)))
			if err != nil || string(mm.Data) != string(msg.Data) {
				t.Fatalf("mirror seq %s: %v", k, err)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("S holds %d of %d messages", len(seen), n)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var v int
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJSClusterFeedInfoFromLeader: the lag and activity of a replicated
// mirror and source are their leader's (it copies), whichever node lists
// the streams: STREAM.LIST on a follower asks the leader, as STREAM.INFO
// is forwarded to it.
func TestJSClusterFeedInfoFromLeader(t *testing.T) {
	_, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i, cfg := range []jetstream.StreamConfig{
		{Name: "O", Subjects: []string{"o.>"}, Replicas: 3},
		{Name: "M", Replicas: 3, Mirror: &jetstream.StreamSource{Name: "O"}},
		{Name: "S", Subjects: []string{"s.own"}, Replicas: 3, Sources: []*jetstream.StreamSource{{Name: "O"}}},
	} {
		if _, err := createStream(ctx, t, js[i], cfg); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20
	for i := range n {
		if _, err := js[0].Publish(ctx, "o.x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"M", "S"} {
		eventually(t, 60*time.Second, name+" caught up", func() bool {
			s, err := js[0].Stream(ctx, name)
			return err == nil && s.CachedInfo().State.Msgs == n
		})
	}
	for node := range js {
		lister := js[node].ListStreams(ctx)
		seen := 0
		for si := range lister.Info() {
			var feed *jetstream.StreamSourceInfo
			switch si.Config.Name {
			case "M":
				feed = si.Mirror
			case "S":
				if len(si.Sources) == 1 {
					feed = si.Sources[0]
				}
			default:
				continue
			}
			seen++
			if feed == nil || feed.Lag != 0 || feed.Active < 0 {
				t.Fatalf("node %d lists %s with feed info %+v", node, si.Config.Name, feed)
			}
		}
		if err := lister.Err(); err != nil {
			t.Fatal(err)
		}
		if seen != 2 {
			t.Fatalf("node %d listed %d of M and S", node, seen)
		}
	}
}
