package consumer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// On-disk files of a durable consumer, in <set dir>/<consumer name>/:
//
//	meta.json   {"created": RFC 3339, "config": ConsumerConfig}
//	state       the delivery state (binary, below)
//
// Both are written through Env.FS (the log's file-system seam) and replaced
// atomically (log.WriteFileAtomic): written to <name>.tmp, fsynced, renamed
// over the old file, and the directory fsynced. A crash leaves either the
// old or the new file, never a torn one. A deleted consumer's directory is
// renamed to <name>.deleting before it is removed (log.RemoveDir); load
// removes such leftovers.
//
// State file, little-endian; "format" constants are part of it:
//
//	0          8      12     16
//	+----------+------+------+------------------------------------------+
//	| BRGCONS1 | crc  | len  | body (len bytes)                         |
//	+----------+------+------+------------------------------------------+
//
//	body: next seq u64 | delivered cseq u64 | delivered sseq u64 |
//	      delivered at i64 | ack floor cseq u64 | ack floor sseq u64 |
//	      ack floor at i64 | npending u32 |
//	      npending × (sseq u64 | first cseq u64 | delivered at i64 | count u32)
//
// Version 2 (magic BRGCONS2) appends the messages that ran out of
// deliveries (maxdeliver.go), ascending:
//
//	... | nmaxed u32 | nmaxed × sseq u64
//
// It is written only when there are such messages, so a consumer without
// any keeps writing version 1; both versions are read.
//
// Version 3 (magic BRGCONS3) is version 2 (nmaxed may be 0) followed by the
// pinned client of a pinned_client consumer (priority.go):
//
//	... | group len u16 | group | pin id len u16 | pin id | pinned at i64
//
// It is written only while a client is pinned; every version is read.
//
// crc is CRC-32C of the body. next seq is the stream sequence the consumer
// looks at next for a first delivery; pending entries are delivered and not
// yet acknowledged messages with their delivery count (redeliveries are
// count-1). Times are unix nanoseconds.
const (
	stateMagic    = "BRGCONS1" // format
	stateMagic2   = "BRGCONS2" // format: with the maxed list
	stateMagic3   = "BRGCONS3" // format: with the maxed list and the pin
	stateHdrSize  = 16         // format
	stateBodyFix  = 8*7 + 4    // format: fixed part of the body
	statePendSize = 8*3 + 4    // format: one pending entry
	stateFile     = "state"
	metaFile      = "meta.json"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errBadState reports a state file that does not verify.
var errBadState = errors.New("consumer: state file corrupt")

// pendingRec is one pending entry as stored.
type pendingRec struct {
	sseq, cseq uint64
	ts         int64
	dc         uint32
}

// savedState is the decoded state file.
type savedState struct {
	next         uint64
	dcseq, dsseq uint64
	dts          int64
	acseq, asseq uint64
	ats          int64
	pending      []pendingRec
	// maxed are the stream seqs that ran out of deliveries, ascending.
	maxed []uint64
	// pin is the pinned client's id ("" none), pinGroup its group,
	// pinnedAt when it was pinned (unix ns).
	pin, pinGroup string
	pinnedAt      int64
}

// appendState encodes st to dst.
func appendState(dst []byte, st *savedState) []byte {
	body := stateBodyFix + statePendSize*len(st.pending)
	magic := stateMagic
	if len(st.maxed) > 0 || st.pin != "" {
		body += 4 + 8*len(st.maxed)
		magic = stateMagic2
	}
	if st.pin != "" {
		body += 2 + len(st.pinGroup) + 2 + len(st.pin) + 8
		magic = stateMagic3
	}
	dst = slices.Grow(dst, stateHdrSize+body)
	dst = append(dst, magic...)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(body))
	start := len(dst)
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, st.next)
	dst = le.AppendUint64(dst, st.dcseq)
	dst = le.AppendUint64(dst, st.dsseq)
	dst = le.AppendUint64(dst, uint64(st.dts))
	dst = le.AppendUint64(dst, st.acseq)
	dst = le.AppendUint64(dst, st.asseq)
	dst = le.AppendUint64(dst, uint64(st.ats))
	dst = le.AppendUint32(dst, uint32(len(st.pending)))
	for _, p := range st.pending {
		dst = le.AppendUint64(dst, p.sseq)
		dst = le.AppendUint64(dst, p.cseq)
		dst = le.AppendUint64(dst, uint64(p.ts))
		dst = le.AppendUint32(dst, p.dc)
	}
	if magic != stateMagic {
		dst = le.AppendUint32(dst, uint32(len(st.maxed)))
		for _, s := range st.maxed {
			dst = le.AppendUint64(dst, s)
		}
	}
	if magic == stateMagic3 {
		dst = le.AppendUint16(dst, uint16(len(st.pinGroup)))
		dst = append(dst, st.pinGroup...)
		dst = le.AppendUint16(dst, uint16(len(st.pin)))
		dst = append(dst, st.pin...)
		dst = le.AppendUint64(dst, uint64(st.pinnedAt))
	}
	le.PutUint32(dst[start-8:], crc32.Checksum(dst[start:], crcTable))
	return dst
}

// decodeState parses a state file; errBadState when it does not verify.
func decodeState(b []byte) (*savedState, error) {
	le := binary.LittleEndian
	if len(b) < stateHdrSize {
		return nil, errBadState
	}
	magic := string(b[:8])
	if magic != stateMagic && magic != stateMagic2 && magic != stateMagic3 {
		return nil, errBadState
	}
	v2, v3 := magic == stateMagic2, magic == stateMagic3
	n := int(le.Uint32(b[12:]))
	body := b[stateHdrSize:]
	if n != len(body) || n < stateBodyFix || crc32.Checksum(body, crcTable) != le.Uint32(b[8:]) {
		return nil, errBadState
	}
	st := &savedState{
		next: le.Uint64(body), dcseq: le.Uint64(body[8:]), dsseq: le.Uint64(body[16:]),
		dts: int64(le.Uint64(body[24:])), acseq: le.Uint64(body[32:]), asseq: le.Uint64(body[40:]),
		ats: int64(le.Uint64(body[48:])),
	}
	np := int(le.Uint32(body[56:]))
	end := stateBodyFix + np*statePendSize
	if np > n/statePendSize || (!v2 && !v3 && n != end) || ((v2 || v3) && n < end+4) {
		return nil, errBadState
	}
	st.pending = make([]pendingRec, np)
	for i := range st.pending {
		p := body[stateBodyFix+i*statePendSize:]
		st.pending[i] = pendingRec{sseq: le.Uint64(p), cseq: le.Uint64(p[8:]), ts: int64(le.Uint64(p[16:])), dc: le.Uint32(p[24:])}
	}
	if !v2 && !v3 {
		return st, nil
	}
	nm := int(le.Uint32(body[end:]))
	if (v2 && nm == 0) || nm > n/8 || (v2 && n != end+4+8*nm) || (v3 && n < end+4+8*nm) {
		return nil, errBadState
	}
	if nm > 0 {
		st.maxed = make([]uint64, nm)
		for i := range st.maxed {
			st.maxed[i] = le.Uint64(body[end+4+8*i:])
		}
		if !slices.IsSorted(st.maxed) {
			return nil, errBadState
		}
	}
	if v3 && !decodePin(body[end+4+8*nm:], st) {
		return nil, errBadState
	}
	return st, nil
}

// decodePin reads the pin section of a version 3 state (all of b).
func decodePin(b []byte, st *savedState) bool {
	le := binary.LittleEndian
	str := func() (string, bool) {
		if len(b) < 2 {
			return "", false
		}
		k := int(le.Uint16(b))
		if len(b) < 2+k {
			return "", false
		}
		s := string(b[2 : 2+k])
		b = b[2+k:]
		return s, true
	}
	g, ok := str()
	if !ok {
		return false
	}
	id, ok := str()
	if !ok || id == "" || len(b) != 8 {
		return false
	}
	st.pinGroup, st.pin, st.pinnedAt = g, id, int64(le.Uint64(b))
	return true
}

// consumerMeta is meta.json.
type consumerMeta struct {
	Created time.Time            `json:"created"`
	Config  jsapi.ConsumerConfig `json:"config"`
}

// writeMeta writes meta.json for a durable consumer, creating its dir
// (<set dir>/<name>). The set's directory is made durable in the stream's
// first, and dir's own entry only once its meta.json is durable, so a crash
// leaves no consumer directory without one.
func writeMeta(fsys log.FS, dir string, m *consumerMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := log.MkdirDurable(fsys, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := log.WriteFileAtomic(fsys, dir, metaFile, b); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(dir))
}

// readConsumerDir loads meta.json and state from dir. A missing state file
// is a consumer that never persisted any: st is nil.
func readConsumerDir(fsys log.FS, dir string) (*consumerMeta, *savedState, error) {
	b, err := log.ReadFile(fsys, filepath.Join(dir, metaFile))
	if err != nil {
		return nil, nil, err
	}
	var m consumerMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", metaFile, err)
	}
	b, err = log.ReadFile(fsys, filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &m, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, nil, err
	}
	return &m, st, nil
}
