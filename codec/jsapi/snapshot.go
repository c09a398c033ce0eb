package jsapi

// Stream snapshot and restore ($JS.API.STREAM.SNAPSHOT.<stream>,
// $JS.API.STREAM.RESTORE.<stream>), as nats-server 2.15 and the CLI's
// `nats backup stream` / `nats backup restore` (jsm.go) speak them.
//
// Snapshot: the client asks with a deliver subject; the server answers
// with StreamSnapshotResponse, then sends the archive (s2-compressed
// NATSARC1, see codec/natsarc) to the deliver subject in chunks of
// chunk_size bytes. Each chunk's reply subject is
// $JS.SNAPSHOT.ACK.<stream>.<id>.<chunk bytes>.<chunk number>; the client
// replies to it (any body) and the server keeps at most window_size bytes
// unacknowledged. The last message has no body: a "NATS/1.0 204" header
// when the archive is complete, else a 408 or 500 status with the reason.
//
// Restore: the client sends StreamRestoreRequest (the stream's config and
// state from the backup's backup.json); the server answers with a
// StreamRestoreResponse naming $JS.SNAPSHOT.RESTORE.<stream>.<id>, and the
// client sends the archive there in chunks, each as a request it waits the
// (empty) reply of; a reply that is an API error ends the restore. An
// empty message ends the archive; its reply is a StreamCreateResponse
// (type stream_create_response) with the restored stream's info, or the
// error (10062 "restore failed: ...").

// Subject prefixes of a snapshot's chunk acks and a restore's chunks.
const (
	SnapshotAckPrefix     = "$JS.SNAPSHOT.ACK."
	RestoreDeliverPrefix  = "$JS.SNAPSHOT.RESTORE."
	SnapshotStateEntry    = "state.json" // the archive's first entry
	SnapshotConsumerEntry = "consumers/" // prefix of a consumer's entry
)

// Snapshot chunk and window sizes: nats-server's defaults and clamps.
const (
	SnapshotChunkDefault  = 128 << 10
	SnapshotChunkMin      = 1 << 10
	SnapshotChunkMax      = 1 << 20
	SnapshotWindowDefault = 8 << 20
	SnapshotWindowMin     = 1 << 10
	SnapshotWindowMax     = 32 << 20
)

// StreamSnapshotRequest is the body of STREAM.SNAPSHOT.<stream>.
type StreamSnapshotRequest struct {
	DeliverSubject string `json:"deliver_subject"`
	NoConsumers    bool   `json:"no_consumers,omitempty"`
	ChunkSize      int    `json:"chunk_size,omitempty"`
	WindowSize     int    `json:"window_size,omitempty"`
	// CheckMsgs asks for a health check first (jsck).
	CheckMsgs bool `json:"jsck,omitempty"`
}

// StreamSnapshotResponse answers STREAM.SNAPSHOT.<stream>: the config and
// the state the archive starts from.
type StreamSnapshotResponse struct {
	APIResponse
	Config *StreamConfig `json:"config,omitempty"`
	State  *StreamState  `json:"state,omitempty"`
}

// StreamRestoreRequest is the body of STREAM.RESTORE.<stream>.
type StreamRestoreRequest struct {
	Config StreamConfig `json:"config"`
	State  StreamState  `json:"state"`
}

// StreamRestoreResponse answers STREAM.RESTORE.<stream> with the subject
// the archive's chunks go to.
type StreamRestoreResponse struct {
	APIResponse
	DeliverSubject string `json:"deliver_subject"`
}

// SnapshotConsumer is a consumer's entry in a snapshot archive
// (nats-server's SnapshotConsumerState).
type SnapshotConsumer struct {
	Config *ConsumerConfig        `json:"config"`
	State  *SnapshotConsumerState `json:"state"`
}

// SnapshotConsumerState is nats-server's ConsumerState as a snapshot
// carries it: the last delivery and the ack floor (consumer and stream
// sequences), the delivered and unacknowledged messages by stream sequence
// (with the consumer sequence and time of their last delivery), and how
// often each redelivered one was redelivered (deliveries - 1).
type SnapshotConsumerState struct {
	Delivered   SequencePair                `json:"delivered"`
	AckFloor    SequencePair                `json:"ack_floor"`
	Pending     map[uint64]*SnapshotPending `json:"pending,omitempty"`
	Redelivered map[uint64]uint64           `json:"redelivered,omitempty"`
}

// SequencePair is a consumer sequence and the stream sequence it delivered.
type SequencePair struct {
	Consumer uint64 `json:"consumer_seq"`
	Stream   uint64 `json:"stream_seq"`
}

// SnapshotPending is one unacknowledged delivery. nats-server's type has
// no JSON tags: the keys are the Go field names.
type SnapshotPending struct {
	Sequence  uint64 `json:"Sequence"`
	Timestamp int64  `json:"Timestamp"`
}
