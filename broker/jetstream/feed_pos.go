package jetstream

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"time"

	"github.com/bargemq/barge/log"
)

// A source's durable position.
//
// A source's position can always be read back from the stream, from the
// newest message carrying its Nats-Stream-Source; but that is a scan
// backwards from the stream's end, as long as the stream holds messages
// newer than the source's last copy (an idle origin under a busy stream),
// and a purge of the stream loses it. So each source also keeps its
// position in <stream dir>/sources.json (log.WriteFileAtomic), as
// nats-server keeps its sources index: the origin sequence up to which it
// copied (or skipped) durably, the stream's last sequence then, and the
// origin's identity. The feed writes it when it stops, and while it
// copies at most every feedHintEvery once caught up, each time after every
// copy in flight was decided, so it is never ahead of what is stored. At
// open a source starts from it and reads forward only the messages stored
// after it (copies made since, maybe by another leader); with no file, or
// one the log does not reach (a stream recreated from a snapshot), it
// scans backwards as before. The publish rules still refuse a copy made
// twice (rules_source.go), so a position behind the truth costs re-reads,
// never duplicates.

// sourcesFile is the file of the sources' positions in a stream's directory.
const sourcesFile = "sources.json"

// feedHintEvery is how often, at most, a caught-up source writes its
// position while it runs.
const feedHintEvery = 10 * time.Second

// sourcePos is one source's entry in sourcesFile.
type sourcePos struct {
	Origin uint64 `json:"origin_seq"` // origin sequences up to this one are copied or skipped
	Stream uint64 `json:"stream_seq"` // the stream's last sequence when written
	Ident  string `json:"ident,omitempty"`
}

// sourcePosOf reads source key's position from the stream's sources file.
func (s *stream) sourcePosOf(key string) (sourcePos, bool) {
	s.srcPos.Lock()
	defer s.srcPos.Unlock()
	s.loadSourcePosLocked()
	p, ok := s.srcPos.m[key]
	return p, ok
}

// loadSourcePosLocked reads the sources file once (a missing or unreadable
// one is no positions). srcPos held.
func (s *stream) loadSourcePosLocked() {
	if s.srcPos.m != nil {
		return
	}
	s.srcPos.m = make(map[string]sourcePos)
	b, err := log.ReadFile(s.e.o.FS, filepath.Join(s.dir, sourcesFile))
	if err != nil {
		return
	}
	if err := json.Unmarshal(b, &s.srcPos.m); err != nil {
		s.e.log.Warn("jetstream: sources positions unreadable, scanning the stream instead", "stream", s.name, "err", err)
		s.srcPos.m = make(map[string]sourcePos)
	}
}

// saveSourcePos records source key's position and writes the file, less
// the sources no longer configured.
func (s *stream) saveSourcePos(key string, p sourcePos) error {
	s.srcPos.Lock()
	defer s.srcPos.Unlock()
	s.loadSourcePosLocked()
	s.srcPos.m[key] = p
	live := map[string]bool{}
	for _, src := range s.Config().Sources {
		if src != nil {
			live[feedIndexName(src)] = true
		}
	}
	for k := range s.srcPos.m {
		if !live[k] {
			delete(s.srcPos.m, k)
		}
	}
	b, err := json.Marshal(s.srcPos.m)
	if err != nil {
		return err
	}
	return log.WriteFileAtomic(s.e.o.FS, s.dir, sourcesFile, b)
}

// savePos writes the source's position once every copy in flight was
// decided, when it moved since the last write. The run goroutine only.
func (f *feed) savePos() {
	if f.mirror || !f.st.leads() {
		// A mirror's position is its last sequence; a replica that does
		// not lead the stream may know an old one.
		return
	}
	f.drain()
	f.mu.Lock()
	pos, failed := f.mu.pos, f.mu.failed
	f.mu.Unlock()
	if failed || !f.posKnown || pos == f.savedPos {
		return
	}
	p := sourcePos{Origin: pos, Stream: f.st.store.Reader().State().LastSeq, Ident: f.oid}
	if err := f.st.saveSourcePos(f.iname, p); err != nil {
		f.e.log.Warn("jetstream: source position not saved", "stream", f.st.name, "origin", f.src.Name, "err", err)
		return
	}
	f.savedPos, f.savedAt = pos, f.e.o.Clock.Now()
}

// maybeSavePos is savePos at most every feedHintEvery.
func (f *feed) maybeSavePos() {
	if f.mirror || f.e.o.Clock.Now().Sub(f.savedAt) < feedHintEvery {
		return
	}
	f.mu.Lock()
	moved := f.mu.pos != f.savedPos
	f.mu.Unlock()
	if moved {
		f.savePos()
	}
}

// sourcedPos is the source's position in own: from the sources file and
// the messages stored after it when it has one the log reaches, else from
// a scan backwards (sourcedUpTo). oid is the origin identity it was
// copied from ("" when not known).
func (f *feed) sourcedPos(own log.Reader) (after uint64, oid string, err error) {
	p, ok := f.st.sourcePosOf(f.iname)
	if !ok || p.Stream > own.State().LastSeq {
		return f.sourcedUpTo(own)
	}
	after, oid = p.Origin, p.Ident
	var sm log.StoredMsg
	for seq := p.Stream + 1; ; {
		got, err := own.LoadNext(seq, ">", &sm)
		if errors.Is(err, log.ErrNotFound) {
			break
		}
		if err != nil {
			return f.sourcedUpTo(own)
		}
		if s, id, ok := f.sourceSeqOf(sm.Hdr); ok {
			if id != oid || s > after {
				after, oid = s, id
			}
		}
		seq = got + 1
	}
	return after, oid, nil
}
