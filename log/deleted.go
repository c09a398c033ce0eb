package log

// Deleted returns up to max (all when max <= 0) of the interior sequences
// between FirstSeq and LastSeq that hold no message (deleted, purged by
// subject, dropped by a per-subject limit, or lost), ascending. The slice is
// the caller's. It walks the index under the read lock: O(LastSeq-FirstSeq).
func (l *Log) Deleted(max int) []uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x := &l.mu.idx
	if x.msgs == 0 {
		return nil
	}
	var out []uint64
	for i := range x.ents {
		if x.ents[i].live {
			continue
		}
		out = append(out, x.base+uint64(i))
		if max > 0 && len(out) == max {
			break
		}
	}
	return out
}
