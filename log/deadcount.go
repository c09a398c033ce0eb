package log

// deadShift sets the block size of the dead-entry counters: 1<<deadShift
// sequences per block.
const deadShift = 10

// deadBlocks counts the index's dead entries (removed messages and
// placeholders between base and the last entry) per block of sequences, so
// that the live messages at or after a sequence are counted without walking
// the whole index (MsgsFrom: a consumer's num_pending). n[0] is block
// base>>deadShift; blocks below base are dropped as the front is trimmed.
// Guarded by Log.mu with the index.
type deadBlocks struct {
	first uint64   // block number of n[0]
	n     []uint32 // dead entries per block
}

// inc counts seq (>= base) as dead.
func (d *deadBlocks) inc(base, seq uint64) {
	if len(d.n) == 0 {
		d.first = base >> deadShift
	}
	b := seq >> deadShift
	for d.first+uint64(len(d.n)) <= b {
		d.n = append(d.n, 0)
	}
	d.n[b-d.first]++
}

// trimmed forgets the dead entries [from, to), dropped from the front of the
// index; to is the new base.
func (d *deadBlocks) trimmed(from, to uint64) {
	for s := from; s < to; {
		b := s >> deadShift
		end := min(to, (b+1)<<deadShift)
		if i := b - d.first; i < uint64(len(d.n)) {
			d.n[i] -= uint32(end - s)
		}
		s = end
	}
	k := to>>deadShift - d.first
	if k >= uint64(len(d.n)) {
		d.n = nil
		return
	}
	d.n = d.n[k:]
	d.first = to >> deadShift
}

// sum adds the counters of blocks [lo, hi) (block numbers).
func (d *deadBlocks) sum(lo, hi uint64) uint64 {
	lo = max(lo, d.first)
	hi = min(hi, d.first+uint64(len(d.n)))
	var t uint64
	for b := lo; b < hi; b++ {
		t += uint64(d.n[b-d.first])
	}
	return t
}

// deadIn counts the dead entries among sequences [lo, hi), all inside the
// index, walking at most one partial block at each end.
func (x *index) deadIn(lo, hi uint64) uint64 {
	var t uint64
	count := func(a, b uint64) {
		for s := a; s < b; s++ {
			if !x.ents[s-x.base].live {
				t++
			}
		}
	}
	bl, bh := lo>>deadShift, hi>>deadShift
	if bl == bh {
		count(lo, hi)
		return t
	}
	count(lo, (bl+1)<<deadShift)
	count(bh<<deadShift, hi)
	return t + x.dead.sum(bl+1, bh)
}

// msgsFrom counts the live messages at or after seq.
func (x *index) msgsFrom(seq uint64) uint64 {
	end := x.base + uint64(len(x.ents)) // one past the last entry
	if x.msgs == 0 || seq >= end {
		return 0
	}
	if seq <= x.base {
		return x.msgs
	}
	dead := uint64(len(x.ents)) - x.msgs
	if dead == 0 {
		return end - seq
	}
	// Count on the shorter side of seq.
	if seq-x.base < end-seq {
		return x.msgs - (seq - x.base - x.deadIn(x.base, seq))
	}
	return end - seq - x.deadIn(seq, end)
}

// MsgsFrom returns how many live messages are stored at or after seq: an
// unfiltered consumer's num_pending. It takes the read lock and walks at
// most two partial blocks of the index and its per-block dead counts.
func (l *Log) MsgsFrom(seq uint64) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.idx.msgsFrom(seq)
}
