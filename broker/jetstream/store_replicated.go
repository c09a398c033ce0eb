package jetstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/log"
)

// replicatedStore is a replicated stream's Store on this node: its raft
// replica, which owns the log. A publish is collected on the publisher's
// event loop (in memory, or past replSpillAt in a spool file) and at End
// submitted to the replica's ordered pipeline, so a connection's messages
// are stored in the order it sent them; the rules decide it when its raft
// entry is applied, on every replica alike, and done follows this
// replica's apply.
type replicatedStore struct {
	r Replica
	l *log.Log // the replica's log when the store was made (Reader)
	// spools are the spool files of large publishes, made off the event
	// loops.
	spools *spoolPool
}

var _ Store = (*replicatedStore)(nil)

// replSpillAt is the size past which a replicated publish's body is spooled
// to a file instead of memory, so a large message costs bounded memory on
// its way to raft (which reads it back a chunk at a time). replMemBudget
// is how much of the stream's queued bodies may be in memory: past it, a
// body over replInline is spooled too.
const (
	replSpillAt   = 1 << 20
	replMemBudget = 8 << 20
	replInline    = 64 << 10
)

// replOpTimeout bounds a replicated delete, purge or config change.
const replOpTimeout = 30 * time.Second

func newReplicatedStore(r Replica, dir string) (*replicatedStore, error) {
	l := r.Log()
	if l == nil {
		return nil, errors.New("jetstream: replica log not open")
	}
	return &replicatedStore{r: r, l: l, spools: newSpoolPool(dir)}, nil
}

func (s *replicatedStore) Reader() log.Reader { return s.l }

func (s *replicatedStore) Begin(subject string, hdr []byte, size int64) (Appending, error) {
	memMax := int64(replSpillAt)
	if s.r.QueuedBytes() > replMemBudget {
		memMax = replInline
	}
	a := &replAppending{s: s, subject: subject, size: size, memMax: memMax}
	if len(hdr) > 0 {
		a.hdr = append([]byte(nil), hdr...)
	}
	return a, nil
}

func (s *replicatedStore) BeginMirror(subject string, hdr []byte, size int64, seq uint64, ts int64) (Appending, error) {
	a, err := s.Begin(subject, hdr, size)
	if err != nil {
		return nil, err
	}
	ra := a.(*replAppending)
	ra.seq, ra.ts = seq, ts
	return ra, nil
}

func (s *replicatedStore) Delete(seq uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), replOpTimeout)
	defer cancel()
	return s.r.Delete(ctx, seq)
}

func (s *replicatedStore) Purge(req log.PurgeRequest) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), replOpTimeout)
	defer cancel()
	return s.r.Purge(ctx, req)
}

func (s *replicatedStore) UpdateConfig(cfg log.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), replOpTimeout)
	defer cancel()
	return s.r.UpdateConfig(ctx, cfg)
}

// AckBatch is nil: done callbacks come from the replica's pipeline one at
// a time (the engine coalesces those PubAcks, queuePubAck).
func (s *replicatedStore) AckBatch() *broker.OutBatch { return nil }

func (s *replicatedStore) Close() error {
	err := s.r.Close()
	s.spools.close()
	return err
}

// replAppending is one publish into a replicated stream: its methods run
// on the publisher's event loop in wire order.
type replAppending struct {
	s       *replicatedStore
	subject string
	hdr     []byte
	size    int64
	memMax  int64  // body bytes kept in memory before spooling
	seq     uint64 // BeginMirror: the sequence and timestamp it must get
	ts      int64
	mem     []byte
	spool   *os.File // nil until the body passes memMax and a file is ready
}

// Write collects one piece: in memory up to memMax, then in a spool file
// taken from the pool (never created here); until one is ready the pieces
// wait in memory.
func (a *replAppending) Write(piece []byte) error {
	if a.spool == nil && int64(len(a.mem)+len(piece)) > a.memMax {
		a.spool = a.s.spools.get()
		if a.spool != nil && len(a.mem) > 0 {
			if _, err := a.spool.Write(a.mem); err != nil {
				return err
			}
			a.mem = nil
		}
	}
	if a.spool != nil {
		_, err := a.spool.Write(piece)
		return err
	}
	if a.mem == nil {
		a.mem = make([]byte, 0, min(a.size, a.memMax))
	}
	a.mem = append(a.mem, piece...)
	return nil
}

// End submits the message to the replica's ordered pipeline (it does not
// block on raft); done follows this replica's apply of its group.
func (a *replAppending) End(done func(seq uint64, ts int64, err error)) (uint64, error) {
	m := &ReplicaMsg{Subject: a.subject, Hdr: a.hdr, Seq: a.seq, Time: a.ts}
	if a.spool == nil {
		m.Body, m.Size = bytes.NewBuffer(a.mem), int64(len(a.mem)) // handed over
		a.mem = nil
	} else {
		f := a.spool
		a.spool = nil
		size, err := f.Seek(0, io.SeekCurrent)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			go a.s.spools.put(f)
			return 0, err
		}
		m.Body, m.Size = f, size
		inner := done
		done = func(seq uint64, ts int64, err error) {
			a.s.spools.put(f) // read back by now
			inner(seq, ts, err)
		}
	}
	a.s.r.Submit(m, done)
	return 0, nil
}

// Abort drops what was collected: nothing is proposed.
func (a *replAppending) Abort() {
	if f := a.spool; f != nil {
		a.spool = nil
		go a.s.spools.put(f) // the truncate is off the event loop too
	}
	a.mem = nil
}

// spoolPool keeps spool files ready for large replicated publishes, so an
// event loop never creates (or truncates) a file: a background goroutine
// creates them (unlinked at once: a crash leaves nothing behind) and takes
// back used ones, emptied, up to spoolKeep.
type spoolPool struct {
	dir string
	// mu guards free, filling and closed.
	mu      sync.Mutex
	free    []*os.File
	filling bool
	closed  bool
}

// spoolKeep is how many empty spool files a stream keeps ready.
const spoolKeep = 4

func newSpoolPool(dir string) *spoolPool { return &spoolPool{dir: dir} }

// get returns a ready spool file, or nil when none is (a refill is on its
// way: the caller keeps its bytes in memory meanwhile and asks again at
// its next piece). It never blocks on the file system.
func (p *spoolPool) get() *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	var f *os.File
	if n := len(p.free); n > 0 {
		f = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	}
	if len(p.free) < spoolKeep/2 && !p.filling && !p.closed {
		p.filling = true
		go p.fill()
	}
	return f
}

// fill creates files until spoolKeep are ready.
func (p *spoolPool) fill() {
	for {
		p.mu.Lock()
		if p.closed || len(p.free) >= spoolKeep {
			p.filling = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		f, err := os.CreateTemp(p.dir, "pub-*.spool")
		if err == nil {
			err = os.Remove(f.Name())
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			p.mu.Lock()
			p.filling = false
			p.mu.Unlock()
			return // the next get tries again; meanwhile bodies stay in memory
		}
		p.keep(f)
	}
}

// put empties f and keeps it for reuse (or closes it). Not for an event
// loop: it truncates.
func (p *spoolPool) put(f *os.File) {
	if f.Truncate(0) != nil {
		f.Close()
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return
	}
	p.keep(f)
}

// keep adds an empty f to the pool, or closes it when the pool is full or
// closed.
func (p *spoolPool) keep(f *os.File) {
	p.mu.Lock()
	if p.closed || len(p.free) >= spoolKeep {
		p.mu.Unlock()
		f.Close()
		return
	}
	p.free = append(p.free, f)
	p.mu.Unlock()
}

// close closes the ready files; files in use are closed when put back.
func (p *spoolPool) close() {
	p.mu.Lock()
	p.closed = true
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for _, f := range free {
		f.Close()
	}
}
