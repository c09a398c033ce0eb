package jetstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/codec/natsarc"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
	"github.com/klauspost/compress/s2"
)

// The message part of a restore (restore.go): the archive's messages
// written into a log in the staging directory at their own sequences and
// timestamps.

// restoreGapSubject prefixes the subject of the placeholders that fill a
// gap between sequences; they are purged before the restore ends.
const restoreGapSubject = "$BARGE.RESTORE.GAP."

// restoreClock is the restore log's clock: Now is the timestamp of the
// message being written; timers are the engine's.
type restoreClock struct {
	base broker.Clock
	now  atomic.Int64
}

func (c *restoreClock) Now() time.Time { return time.Unix(0, c.now.Load()) }

func (c *restoreClock) AfterFunc(d time.Duration, f func()) broker.Timer {
	return c.base.AfterFunc(d, f)
}

// newS2Reader decodes the s2 stream (block CRCs verified), telling an
// archive of nats-server before 2.15 (a tar, not NATSARC1) apart.
func newS2Reader(r io.Reader) io.Reader {
	return &magicCheck{r: s2.NewReader(r, s2.ReaderMaxBlockSize(4<<20))}
}

// magicCheck words the error for an archive that is not NATSARC1.
type magicCheck struct {
	r    io.Reader
	seen int
}

func (m *magicCheck) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if m.seen < len(natsarc.Magic) && n > 0 {
		k := min(n, len(natsarc.Magic)-m.seen)
		if !bytes.Equal(p[:k], []byte(natsarc.Magic)[m.seen:m.seen+k]) {
			return 0, errors.New("backup is not a NATSARC1 archive (backups of nats-server before 2.15 can not be restored)")
		}
		m.seen += k
	}
	if errors.Is(err, s2.ErrCorrupt) || errors.Is(err, s2.ErrCRC) || errors.Is(err, s2.ErrUnsupported) || errors.Is(err, s2.ErrTooLarge) {
		err = fmt.Errorf("backup is corrupt: %v", err)
	}
	return n, err
}

// writeMessages writes the archive's messages, up to its end entry, into
// a log in the staging directory, then closes it (syncing it).
func (rs *restore) writeMessages(ar *natsarc.Reader, state *jsapi.StreamState) (err error) {
	e := rs.e
	lc := logConfig(&rs.cfg)
	lc.MaxMsgs, lc.MaxBytes, lc.MaxAge, lc.MaxMsgsPerSubject = 0, 0, 0, 0
	lc.Discard = log.DiscardOld
	lc.FirstSeq = max(state.FirstSeq, 1)
	clk := &restoreClock{base: e.o.Clock}
	clk.now.Store(e.o.Clock.Now().UnixNano())
	l, err := log.Open(filepath.Join(rs.staging, msgsDir), lc, log.Options{
		Clock: clk, Logger: e.log.With("stream", rs.cfg.Name, "restore", true),
		Sync: log.SyncInterval, SyncInterval: time.Hour,
		SegmentSize: e.o.SegmentSize, ChunkSize: e.o.ChunkSize, VerifyRate: -1, FS: e.o.FS,
	})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	gap := restoreGapSubject + randToken()
	gaps := false
	next := lc.FirstSeq // the sequence the log assigns next
	fill := func(upTo uint64) error {
		for ; next <= upTo; next++ {
			if _, _, err := l.AppendMsg(gap, nil, nil); err != nil {
				return err
			}
			gaps = true
		}
		return nil
	}
	maxPayload := e.maxPayload.Load()
	var hdr []byte
	buf := make([]byte, snapshotReadPiece)
	for {
		h, err := ar.Next()
		if err != nil {
			return archiveErr(err)
		}
		if h.IsEnd() {
			break
		}
		seq := h.Sequence
		switch {
		case seq == 0:
			return errors.New("archive: expected a message sequence")
		case seq < next:
			return fmt.Errorf("archive: message sequence %d out of order", seq)
		case h.HeaderSize > restoreMaxHeader:
			return fmt.Errorf("archive: message sequence %d has a header of %d bytes", seq, h.HeaderSize)
		case maxPayload > 0 && h.Size() > maxPayload:
			return fmt.Errorf("message sequence %d exceeds maximum payload size", seq)
		case rs.cfg.MaxMsgSize > 0 && h.Size() > int64(rs.cfg.MaxMsgSize):
			return fmt.Errorf("message sequence %d exceeds maximum message size", seq)
		case !subject.ValidPublish([]byte(h.Name)) || len(h.Name) > 0xffff:
			return fmt.Errorf("archive: message sequence %d has an invalid subject", seq)
		}
		if err := fill(seq - 1); err != nil {
			return err
		}
		hdr = hdr[:0]
		if h.HeaderSize > 0 {
			hdr = append(hdr, make([]byte, h.HeaderSize)...)
			if _, err := io.ReadFull(ar, hdr); err != nil {
				return archiveErr(err)
			}
		}
		clk.now.Store(h.Timestamp)
		a, err := l.Append(h.Name, hdr, h.PayloadSize)
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(a, io.LimitReader(ar, h.PayloadSize), buf)
		if err == nil && n != h.PayloadSize {
			err = errors.New("backup was truncated")
		}
		if err != nil {
			a.Abort()
			return archiveErr(err)
		}
		got, _, err := a.Commit()
		if err != nil {
			return err
		}
		if got != seq {
			return fmt.Errorf("message sequence %d stored as %d", seq, got)
		}
		next = seq + 1
	}
	if !state.LastTime.IsZero() {
		clk.now.Store(state.LastTime.UnixNano()) // the last message's time, even when it is gone
	}
	if err := fill(state.LastSeq); err != nil {
		return err
	}
	if gaps {
		if _, err := l.Purge(log.PurgeRequest{Subject: gap}); err != nil {
			return err
		}
	}
	return nil
}
