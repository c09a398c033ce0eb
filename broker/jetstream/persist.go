package jetstream

import (
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// persist_mode (nats-server 2.12): "async" acknowledges a publish once it
// is written to the OS, before its fsync, for that stream only; the
// stream's log then fsyncs every Options.SyncInterval (1s by default), so
// a crash of the machine can lose that window of acknowledged messages
// (a clean shutdown syncs everything). The default acknowledges after the
// group-commit fsync as every other stream does. As in nats-server it
// needs file storage and one replica, excludes atomic batches, and an
// update cannot change it.

// persistModeErr refuses an async persist mode where nats-server does, in
// its order: storage, replicas, atomic batches.
func persistModeErr(cfg *jsapi.StreamConfig) *jsapi.APIError {
	if cfg.PersistMode != jsapi.PersistAsync {
		return nil
	}
	switch {
	case cfg.Storage != jsapi.FileStorage:
		return invalidConfig("async persist mode is only supported on file storage")
	case cfg.Replicas > 1:
		return invalidConfig("async persist mode is not supported on replicated streams")
	case cfg.AllowAtomicPublish:
		return invalidConfig("async persist mode is not supported with atomic batch publish")
	}
	return nil
}

// logSync is the sync policy of the log of a stream with cfg: the
// engine's, or SyncInterval for an async persist mode.
func (e *Engine) logSync(cfg *jsapi.StreamConfig) log.SyncPolicy {
	if cfg.PersistMode == jsapi.PersistAsync {
		return log.SyncInterval
	}
	return e.o.Sync
}
