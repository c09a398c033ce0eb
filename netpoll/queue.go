package netpoll

import (
	"io"
	"sync"
)

// chunkSize is the size of a pooled outbound buffer. Small writes coalesce
// into the tail chunk; staged extents are read back one chunk per pread.
const chunkSize = 64 << 10

// chunk is a pooled outbound buffer; b has capacity chunkSize and its length
// is the number of bytes written into it.
type chunk struct{ b []byte }

// chunkPool recycles chunks. It belongs to one Server (no package state).
type chunkPool struct{ p sync.Pool }

// get returns an empty chunk; the caller owns it until put.
func (cp *chunkPool) get() *chunk {
	if c, ok := cp.p.Get().(*chunk); ok {
		return c
	}
	return &chunk{b: make([]byte, 0, chunkSize)}
}

// put returns c to the pool; the caller must not touch c afterwards.
func (cp *chunkPool) put(c *chunk) {
	c.b = c.b[:0]
	cp.p.Put(c)
}

type itemKind uint8

const (
	itemMem   itemKind = iota + 1 // bytes ch.b[off:] in a pooled chunk
	itemSpill                     // extent of the connection's spill file
	itemFile                      // extent of a caller's file (WriteFile)
	itemSlot                      // a stream slot with its own item list
)

// item is one entry of an outbound queue.
type item struct {
	kind itemKind
	// unitEnd reports that the item's last byte is the last byte of a
	// Write call (or of WriteFile's extent): handing the whole item to gnet
	// leaves the peer on a message boundary.
	unitEnd bool
	ch      *chunk // itemMem
	// staged: an itemMem chunk gathering bytes bound for the spill file
	// (counted as spilled, not mem); once full it is written there and
	// becomes an itemSpill extent.
	staged  bool
	off     int         // itemMem: first unsent byte in ch.b
	end     int         // itemMem: ch.b's length at its last unit end (0: none)
	f       io.ReaderAt // itemSpill (the SpillFile), itemFile
	foff, n int64       // itemSpill, itemFile: unsent extent [foff, foff+n)
	slot    *slot       // itemSlot
}

// size is the number of unsent bytes the item holds itself (a slot's pieces
// are counted in its own list).
func (it *item) size() int64 {
	switch it.kind {
	case itemMem:
		return int64(len(it.ch.b) - it.off)
	case itemSpill, itemFile:
		return it.n
	}
	return 0
}

// deque is a FIFO of items backed by a reusable slice: after warm-up, pushing
// and popping allocate nothing. Not safe for concurrent use; the owning
// connection's mutex guards it.
type deque struct {
	items []item
	head  int
}

func (d *deque) len() int { return len(d.items) - d.head }

// front returns the first item, or nil when empty. The pointer is valid until
// the next push or pop.
func (d *deque) front() *item {
	if d.head == len(d.items) {
		return nil
	}
	return &d.items[d.head]
}

// back returns the last item, or nil when empty. Same validity as front.
func (d *deque) back() *item {
	if d.head == len(d.items) {
		return nil
	}
	return &d.items[len(d.items)-1]
}

func (d *deque) push(it item) {
	if d.head > 0 && len(d.items) == cap(d.items) && d.head >= len(d.items)/2 {
		// Compact instead of growing: the consumed prefix is dead.
		n := copy(d.items, d.items[d.head:])
		clear(d.items[n:])
		d.items = d.items[:n]
		d.head = 0
	}
	d.items = append(d.items, it)
}

// popFront removes the first item; the deque must not be empty.
func (d *deque) popFront() item {
	it := d.items[d.head]
	d.items[d.head] = item{}
	d.head++
	if d.head == len(d.items) {
		d.items = d.items[:0]
		d.head = 0
	}
	return it
}

// truncate drops the items from index i of d.items on; the caller has
// released what they held.
func (d *deque) truncate(i int) {
	clear(d.items[i:])
	d.items = d.items[:i]
	if d.head >= len(d.items) {
		d.items = d.items[:0]
		d.head = 0
	}
}

// removeSlot deletes the item holding sl, wherever it is. It reports whether
// sl was found.
func (d *deque) removeSlot(sl *slot) bool {
	for i := d.head; i < len(d.items); i++ {
		if d.items[i].kind == itemSlot && d.items[i].slot == sl {
			copy(d.items[i:], d.items[i+1:])
			d.items[len(d.items)-1] = item{}
			d.items = d.items[:len(d.items)-1]
			if d.head == len(d.items) {
				d.items = d.items[:0]
				d.head = 0
			}
			return true
		}
	}
	return false
}

// slot is an open place in a connection's queue for a message written in
// pieces; see Stream. Its fields are guarded by the owning conn's mu.
type slot struct {
	c     *conn
	q     deque
	ended bool // End was called: once q drains the slot is popped
	done  bool // End or Abort was called: further pieces are refused
	// started reports that some of the slot's bytes were taken for the
	// socket, so dropping the rest would leave the peer a partial message.
	started bool
}
