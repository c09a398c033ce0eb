package jetstream

import "testing"

// TestLeastLoaded: the member with the fewest streams is chosen; among
// equals the creating node when it is a member, else the one the shard id
// points at in id order.
func TestLeastLoaded(t *testing.T) {
	members := map[uint64]string{1: "a", 2: "b", 3: "c"}
	cases := []struct {
		load    map[uint64]int
		self    uint64
		shardID uint64
		want    uint64
	}{
		{map[uint64]int{}, 2, 0, 2},
		{map[uint64]int{2: 1}, 2, 0, 1},
		{map[uint64]int{2: 1}, 2, 2, 3},
		{map[uint64]int{1: 1, 2: 1}, 2, 0, 3},
		{map[uint64]int{}, 9, 4, 2}, // not a member: 4 % 3 = 1 → id 2
		{map[uint64]int{1: 2, 2: 2, 3: 1}, 1, 0, 3},
	}
	for i, c := range cases {
		if got := leastLoaded(members, c.load, c.self, c.shardID); got != c.want {
			t.Errorf("case %d: got %d, want %d", i, got, c.want)
		}
	}
}
