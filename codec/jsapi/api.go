package jsapi

import "time"

// Values of the "type" field of each API response.
const (
	TypeSystemResponse                 = "io.nats.jetstream.api.v1.system_response"
	TypeAccountInfoResponse            = "io.nats.jetstream.api.v1.account_info_response"
	TypeStreamCreateResponse           = "io.nats.jetstream.api.v1.stream_create_response"
	TypeStreamUpdateResponse           = "io.nats.jetstream.api.v1.stream_update_response"
	TypeStreamInfoResponse             = "io.nats.jetstream.api.v1.stream_info_response"
	TypeStreamDeleteResponse           = "io.nats.jetstream.api.v1.stream_delete_response"
	TypeStreamNamesResponse            = "io.nats.jetstream.api.v1.stream_names_response"
	TypeStreamListResponse             = "io.nats.jetstream.api.v1.stream_list_response"
	TypeStreamPurgeResponse            = "io.nats.jetstream.api.v1.stream_purge_response"
	TypeStreamSnapshotResponse         = "io.nats.jetstream.api.v1.stream_snapshot_response"
	TypeStreamRestoreResponse          = "io.nats.jetstream.api.v1.stream_restore_response"
	TypeStreamRemovePeerResponse       = "io.nats.jetstream.api.v1.stream_remove_peer_response"
	TypeStreamLeaderStepDownResponse   = "io.nats.jetstream.api.v1.stream_leader_stepdown_response"
	TypeMsgGetResponse                 = "io.nats.jetstream.api.v1.stream_msg_get_response"
	TypeMsgDeleteResponse              = "io.nats.jetstream.api.v1.stream_msg_delete_response"
	TypeConsumerCreateResponse         = "io.nats.jetstream.api.v1.consumer_create_response"
	TypeConsumerInfoResponse           = "io.nats.jetstream.api.v1.consumer_info_response"
	TypeConsumerDeleteResponse         = "io.nats.jetstream.api.v1.consumer_delete_response"
	TypeConsumerNamesResponse          = "io.nats.jetstream.api.v1.consumer_names_response"
	TypeConsumerListResponse           = "io.nats.jetstream.api.v1.consumer_list_response"
	TypeConsumerPauseResponse          = "io.nats.jetstream.api.v1.consumer_pause_response"
	TypeConsumerUnpinResponse          = "io.nats.jetstream.api.v1.consumer_unpin_response"
	TypeConsumerResetResponse          = "io.nats.jetstream.api.v1.consumer_reset_response"
	TypeConsumerLeaderStepDownResponse = "io.nats.jetstream.api.v1.consumer_leader_stepdown_response"
	TypeMetaLeaderStepDownResponse     = "io.nats.jetstream.api.v1.meta_leader_stepdown_response"
	TypeAccountPurgeResponse           = "io.nats.jetstream.api.v1.account_purge_response"
	TypeSystemOverloaded               = "io.nats.jetstream.api.v1.system_overloaded"
)

// Limits of the list/names APIs and of names (nats-server's values).
const (
	// NamesLimit is the page size of STREAM.NAMES and CONSUMER.NAMES.
	NamesLimit = 1024
	// ListLimit is the page size of STREAM.LIST and CONSUMER.LIST.
	ListLimit = 256
	// MaxNameLen is the longest stream or consumer name.
	MaxNameLen = 255
	// MaxDescriptionLen is the longest stream or consumer description.
	MaxDescriptionLen = 4 * 1024
	// MaxMetadataLen is the most bytes of keys plus values in a metadata map.
	MaxMetadataLen = 128 * 1024
	// DefaultMaxWaiting is a pull consumer's default max_waiting.
	DefaultMaxWaiting = 512
	// NATSServerAPILevel is the JetStream API level nats-server 2.15.2
	// reports in api.level (ADR-44: 0 is 2.10, 1 is 2.11, ...). A server
	// that implements less of the API should report a lower level.
	NATSServerAPILevel = 5
	// BargeAPILevel is the level barge reports: 4, nats-server 2.14's.
	// Level 2 is nats-server 2.12's API (counters, atomic batches,
	// schedules, async persist), level 3 adds STREAM.SNAPSHOT's
	// window_size, level 4 the flow_control ack policy, durable sourcing
	// and CONSUMER.RESET (clients gate those, and fast batches, on it).
	// Level 5 (2.15: a source told of its origin's recreation through the
	// consumer create request) is not reported.
	BargeAPILevel = 4
)

// APIResponse is the common head of every API response. Type is one of
// the Type... constants; Error is nil on success.
type APIResponse struct {
	Type  string    `json:"type"`
	Error *APIError `json:"error,omitempty"`
}

// APIPaged is the paging head of list and names responses.
type APIPaged struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// APIPagedRequest is the paging part of list and names requests.
type APIPagedRequest struct {
	Offset int `json:"offset"`
}

// AccountInfoResponse answers $JS.API.INFO.
type AccountInfoResponse struct {
	APIResponse
	*AccountInfo
}

// StreamCreateResponse answers $JS.API.STREAM.CREATE.<stream>.
type StreamCreateResponse struct {
	APIResponse
	*StreamInfo
	DidCreate bool `json:"did_create,omitempty"`
}

// StreamUpdateResponse answers $JS.API.STREAM.UPDATE.<stream>.
type StreamUpdateResponse struct {
	APIResponse
	*StreamInfo
}

// StreamInfoRequest is the optional body of $JS.API.STREAM.INFO.<stream>.
// SubjectsFilter asks for per-subject counts in state.subjects (paged by
// Offset); DeletedDetails asks for the list of deleted sequences.
type StreamInfoRequest struct {
	APIPagedRequest
	DeletedDetails bool   `json:"deleted_details,omitempty"`
	SubjectsFilter string `json:"subjects_filter,omitempty"`
}

// StreamInfoResponse answers $JS.API.STREAM.INFO.<stream>; the paging
// head applies to state.subjects.
type StreamInfoResponse struct {
	APIResponse
	APIPaged
	*StreamInfo
}

// StreamDeleteResponse answers $JS.API.STREAM.DELETE.<stream>.
type StreamDeleteResponse struct {
	APIResponse
	Success bool `json:"success,omitempty"`
}

// StreamNamesRequest is the optional body of $JS.API.STREAM.NAMES and
// $JS.API.STREAM.LIST; Subject keeps only streams that listen on it.
type StreamNamesRequest struct {
	APIPagedRequest
	Subject string `json:"subject,omitempty"`
}

// StreamNamesResponse answers $JS.API.STREAM.NAMES. With no streams
// nats-server writes "streams":null (a nil slice); nats.go accepts it.
type StreamNamesResponse struct {
	APIResponse
	APIPaged
	Streams []string `json:"streams"`
}

// StreamListResponse answers $JS.API.STREAM.LIST. nats-server writes
// "streams":[] when empty: set a non-nil empty slice.
type StreamListResponse struct {
	APIResponse
	APIPaged
	Streams []*StreamInfo     `json:"streams"`
	Missing []string          `json:"missing,omitempty"`
	Offline map[string]string `json:"offline,omitempty"`
}

// StreamPurgeRequest is the optional body of $JS.API.STREAM.PURGE.<stream>.
// Subject limits the purge to matching messages; Sequence purges up to but
// not including that sequence; Keep keeps that many newest messages.
// Sequence and Keep are mutually exclusive.
type StreamPurgeRequest struct {
	Sequence uint64 `json:"seq,omitempty"`
	Subject  string `json:"filter,omitempty"`
	Keep     uint64 `json:"keep,omitempty"`
}

// StreamPurgeResponse answers $JS.API.STREAM.PURGE.<stream>.
type StreamPurgeResponse struct {
	APIResponse
	Success bool   `json:"success,omitempty"`
	Purged  uint64 `json:"purged"`
}

// MsgGetRequest is the body of $JS.API.STREAM.MSG.GET.<stream> and of
// $JS.API.DIRECT.GET.<stream> (ADR-31). Exactly one of Seq, LastFor and
// NextFor selects the message (NextFor: first message at or after Seq on
// that subject). Batch, MaxBytes, StartTime, MultiLastFor, UpToSeq and
// UpToTime are direct-get batch options.
type MsgGetRequest struct {
	Seq          uint64     `json:"seq,omitempty"`
	LastFor      string     `json:"last_by_subj,omitempty"`
	NextFor      string     `json:"next_by_subj,omitempty"`
	Batch        int        `json:"batch,omitempty"`
	MaxBytes     int        `json:"max_bytes,omitempty"`
	StartTime    *time.Time `json:"start_time,omitempty"`
	MultiLastFor []string   `json:"multi_last,omitempty"`
	UpToSeq      uint64     `json:"up_to_seq,omitempty"`
	UpToTime     *time.Time `json:"up_to_time,omitempty"`
	NoHeaders    bool       `json:"no_hdr,omitempty"`
}

// MsgGetResponse answers $JS.API.STREAM.MSG.GET.<stream>.
type MsgGetResponse struct {
	APIResponse
	Message *StoredMsg `json:"message,omitempty"`
}

// StoredMsg is a message as returned by MSG.GET. Header is the raw header
// block ("NATS/1.0\r\n..."); Header and Data are base64 on the wire.
type StoredMsg struct {
	Subject  string    `json:"subject"`
	Sequence uint64    `json:"seq"`
	Header   []byte    `json:"hdrs,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Time     time.Time `json:"time"`
}

// MsgDeleteRequest is the body of $JS.API.STREAM.MSG.DELETE.<stream>;
// NoErase skips overwriting the message's bytes.
type MsgDeleteRequest struct {
	Seq     uint64 `json:"seq"`
	NoErase bool   `json:"no_erase,omitempty"`
}

// MsgDeleteResponse answers $JS.API.STREAM.MSG.DELETE.<stream>.
type MsgDeleteResponse struct {
	APIResponse
	Success bool `json:"success,omitempty"`
}

// ConsumerCreateResponse answers consumer create requests.
type ConsumerCreateResponse struct {
	APIResponse
	*ConsumerInfo
}

// ConsumerInfoResponse answers $JS.API.CONSUMER.INFO.<stream>.<consumer>.
type ConsumerInfoResponse struct {
	APIResponse
	*ConsumerInfo
}

// ConsumerDeleteResponse answers $JS.API.CONSUMER.DELETE.<stream>.<consumer>.
type ConsumerDeleteResponse struct {
	APIResponse
	Success bool `json:"success,omitempty"`
}

// ConsumerNamesRequest is the optional body of CONSUMER.NAMES and CONSUMER.LIST.
type ConsumerNamesRequest struct {
	APIPagedRequest
}

// ConsumerNamesResponse answers $JS.API.CONSUMER.NAMES.<stream>.
// nats-server writes "consumers":[] when empty: set a non-nil empty slice.
type ConsumerNamesResponse struct {
	APIResponse
	APIPaged
	Consumers []string `json:"consumers"`
}

// ConsumerListResponse answers $JS.API.CONSUMER.LIST.<stream>.
// nats-server writes "consumers":[] when empty: set a non-nil empty slice.
type ConsumerListResponse struct {
	APIResponse
	APIPaged
	Consumers []*ConsumerInfo   `json:"consumers"`
	Missing   []string          `json:"missing,omitempty"`
	Offline   map[string]string `json:"offline,omitempty"`
}

// ConsumerPauseResponse answers $JS.API.CONSUMER.PAUSE.<stream>.<consumer>.
type ConsumerPauseResponse struct {
	APIResponse
	Paused         bool          `json:"paused"`
	PauseUntil     time.Time     `json:"pause_until"`
	PauseRemaining time.Duration `json:"pause_remaining,omitempty"`
}

// ConsumerResetRequest is the body of $JS.API.CONSUMER.RESET.<stream>.<consumer>;
// an empty body or a zero seq resets the consumer to its ack floor.
type ConsumerResetRequest struct {
	Seq uint64 `json:"seq,omitempty"`
}

// ConsumerResetResponse answers a reset: the consumer's info and the
// stream sequence it now starts at.
type ConsumerResetResponse struct {
	APIResponse
	*ConsumerInfo
	ResetSeq uint64 `json:"reset_seq"`
}

// ConsumerUnpinRequest is the body of $JS.API.CONSUMER.UNPIN.<stream>.<consumer>.
type ConsumerUnpinRequest struct {
	Group string `json:"group"`
}

// SuccessResponse answers the simple calls that only report success
// (leader step-down, unpin, peer removal).
type SuccessResponse struct {
	APIResponse
	Success bool `json:"success,omitempty"`
}

// PubAck is the reply to a publish that a stream stored (or recognised
// as a duplicate). For the allocation-free form see AppendPubAck.
type PubAck struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Domain    string `json:"domain,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Value     string `json:"val,omitempty"`
	BatchID   string `json:"batch,omitempty"`
	BatchSize uint64 `json:"count,omitempty"`
}

// PubAckResponse is the reply to a publish that may have failed: on
// failure nats-server sends {"error":{...},"stream":"<name>","seq":0}.
// It has no "type" field. See AppendPubAckError.
type PubAckResponse struct {
	Error *APIError `json:"error,omitempty"`
	*PubAck
}
