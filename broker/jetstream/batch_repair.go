package jetstream

import (
	"log/slog"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// repairBatchTail removes an atomic batch that a crash cut inside its
// commit. log.CommitBatch writes a batch's records in one write, the last
// message carrying Nats-Batch-Commit, and nothing of the batch is
// acknowledged before all of it is durable; a torn write can still leave
// a prefix of the batch at the end of the log. So when the log opens, if
// its last message is a batch message without the commit header, that
// message and the ones before it of the same batch (batch sequences
// counting down to 1) are deleted before anyone reads the stream. Their
// sequences stay used, as after any delete.
func repairBatchTail(l *log.Log, lg *slog.Logger) {
	last := l.State().LastSeq
	if last == 0 {
		return
	}
	var sm log.StoredMsg
	if l.LoadMsg(last, &sm) != nil {
		return
	}
	id, ok := codec.HeaderValue(sm.Hdr, jsapi.HdrBatchID)
	if !ok {
		return
	}
	if _, committed := codec.HeaderValue(sm.Hdr, jsapi.HdrBatchCommit); committed {
		return
	}
	batch := string(id)
	var seqs []uint64
	for seq := last; seq > 0; seq-- {
		if l.LoadMsg(seq, &sm) != nil {
			break
		}
		if v, _ := codec.HeaderValue(sm.Hdr, jsapi.HdrBatchID); string(v) != batch {
			break
		}
		seqs = append(seqs, seq)
		if v, _ := codec.HeaderValue(sm.Hdr, jsapi.HdrBatchSeq); string(v) == "1" {
			break
		}
	}
	for _, seq := range seqs {
		if err := l.Delete(seq); err != nil {
			lg.Error("jetstream: remove the uncommitted atomic batch", "batch", batch, "seq", seq, "err", err)
			return
		}
	}
	lg.Warn("jetstream: removed an atomic batch cut by a crash inside its commit", "batch", batch, "messages", len(seqs))
}
