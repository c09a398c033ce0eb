package jsapi

import "time"

// StreamConfig is a stream's configuration: the "config" of a stream
// create/update request and of StreamInfo. Field names and omitempty follow
// nats-server 2.15 exactly, so a config round-trips through nats.go and the
// nats CLI unchanged. Durations are integer nanoseconds on the wire; times
// are RFC 3339 with nanoseconds (pass UTC times to get nats-server's "Z").
type StreamConfig struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	Subjects     []string        `json:"subjects,omitempty"`
	Retention    RetentionPolicy `json:"retention"`
	MaxConsumers int             `json:"max_consumers"`
	MaxMsgs      int64           `json:"max_msgs"`
	MaxBytes     int64           `json:"max_bytes"`
	MaxAge       time.Duration   `json:"max_age"`
	MaxMsgsPer   int64           `json:"max_msgs_per_subject"`
	MaxMsgSize   int32           `json:"max_msg_size,omitempty"`
	Discard      DiscardPolicy   `json:"discard"`
	Storage      StorageType     `json:"storage"`
	Replicas     int             `json:"num_replicas"`
	NoAck        bool            `json:"no_ack,omitempty"`
	// TemplateOwner is the legacy stream-template owner; nats-server no
	// longer sends it, nats.go still declares it.
	TemplateOwner string          `json:"template_owner,omitempty"`
	Duplicates    time.Duration   `json:"duplicate_window,omitempty"`
	Placement     *Placement      `json:"placement,omitempty"`
	Mirror        *StreamSource   `json:"mirror,omitempty"`
	Sources       []*StreamSource `json:"sources,omitempty"`
	Compression   Compression     `json:"compression"`
	FirstSeq      uint64          `json:"first_seq,omitempty"`

	// SubjectTransform rewrites incoming subjects before storing.
	SubjectTransform *SubjectTransformConfig `json:"subject_transform,omitempty"`
	// RePublish republishes each stored message.
	RePublish *RePublish `json:"republish,omitempty"`

	// AllowDirect enables $JS.API.DIRECT.GET for this stream.
	AllowDirect bool `json:"allow_direct"`
	// MirrorDirect enables direct get from a mirror of this stream.
	MirrorDirect bool `json:"mirror_direct"`
	// DiscardNewPer applies DiscardNew per subject (needs MaxMsgsPer).
	DiscardNewPer bool `json:"discard_new_per_subject,omitempty"`

	// Sealed, DenyDelete, DenyPurge and AllowRollup are always written.
	Sealed      bool `json:"sealed"`
	DenyDelete  bool `json:"deny_delete"`
	DenyPurge   bool `json:"deny_purge"`
	AllowRollup bool `json:"allow_rollup_hdrs"`

	// ConsumerLimits are defaults for the stream's consumers; always written
	// (as {} when empty), as nats-server does.
	ConsumerLimits StreamConsumerLimits `json:"consumer_limits"`

	// AllowMsgTTL honours the Nats-TTL header.
	AllowMsgTTL bool `json:"allow_msg_ttl"`
	// SubjectDeleteMarkerTTL leaves a marker when max_age removes a subject's last message.
	SubjectDeleteMarkerTTL time.Duration `json:"subject_delete_marker_ttl,omitempty"`
	AllowMsgCounter        bool          `json:"allow_msg_counter,omitempty"`
	AllowAtomicPublish     bool          `json:"allow_atomic,omitempty"`
	AllowMsgSchedules      bool          `json:"allow_msg_schedules,omitempty"`
	PersistMode            PersistMode   `json:"persist_mode,omitempty"`
	AllowBatchPublish      bool          `json:"allow_batched,omitempty"`

	// Metadata is free-form user metadata.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// StreamConsumerLimits are default limits for a stream's consumers.
type StreamConsumerLimits struct {
	InactiveThreshold time.Duration `json:"inactive_threshold,omitempty"`
	MaxAckPending     int           `json:"max_ack_pending,omitempty"`
}

// SubjectTransformConfig maps subjects matching Source onto Destination.
type SubjectTransformConfig struct {
	Source      string `json:"src"`
	Destination string `json:"dest"`
}

// RePublish republishes stored messages matching Source to Destination.
type RePublish struct {
	Source      string `json:"src,omitempty"`
	Destination string `json:"dest"`
	HeadersOnly bool   `json:"headers_only,omitempty"`
}

// Placement asks for a cluster and/or server tags.
type Placement struct {
	Cluster   string   `json:"cluster,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Preferred string   `json:"preferred,omitempty"`
}

// StreamSource is a mirror or source of another stream.
type StreamSource struct {
	Name              string                   `json:"name"`
	OptStartSeq       uint64                   `json:"opt_start_seq,omitempty"`
	OptStartTime      *time.Time               `json:"opt_start_time,omitempty"`
	FilterSubject     string                   `json:"filter_subject,omitempty"`
	SubjectTransforms []SubjectTransformConfig `json:"subject_transforms,omitempty"`
	External          *ExternalStream          `json:"external,omitempty"`
	Consumer          *StreamConsumerSource    `json:"consumer,omitempty"`
}

// StreamConsumerSource names a durable consumer used for sourcing.
type StreamConsumerSource struct {
	Name           string `json:"name,omitempty"`
	DeliverSubject string `json:"deliver_subject,omitempty"`
}

// ExternalStream qualifies a source in another account or domain.
type ExternalStream struct {
	APIPrefix     string `json:"api"`
	DeliverPrefix string `json:"deliver"`
}

// StreamInfo is a stream's config and state: the body of stream create,
// update and info responses and the items of a stream list.
type StreamInfo struct {
	Config     StreamConfig        `json:"config"`
	Created    time.Time           `json:"created"`
	State      StreamState         `json:"state"`
	Domain     string              `json:"domain,omitempty"`
	Cluster    *ClusterInfo        `json:"cluster,omitempty"`
	Mirror     *StreamSourceInfo   `json:"mirror,omitempty"`
	Sources    []*StreamSourceInfo `json:"sources,omitempty"`
	Alternates []StreamAlternate   `json:"alternates,omitempty"`
	// TimeStamp is when the info was gathered.
	TimeStamp time.Time `json:"ts"`
}

// StreamState is a stream's message counts and bounds. FirstTime and
// LastTime are written even when zero ("0001-01-01T00:00:00Z"), as
// nats-server does for an empty stream.
type StreamState struct {
	Msgs        uint64            `json:"messages"`
	Bytes       uint64            `json:"bytes"`
	FirstSeq    uint64            `json:"first_seq"`
	FirstTime   time.Time         `json:"first_ts"`
	LastSeq     uint64            `json:"last_seq"`
	LastTime    time.Time         `json:"last_ts"`
	NumSubjects int               `json:"num_subjects,omitempty"`
	Subjects    map[string]uint64 `json:"subjects,omitempty"`
	NumDeleted  int               `json:"num_deleted,omitempty"`
	Deleted     []uint64          `json:"deleted,omitempty"`
	Lost        *LostStreamData   `json:"lost,omitempty"`
	Consumers   int               `json:"consumer_count"`
}

// LostStreamData lists messages lost to corruption.
type LostStreamData struct {
	Msgs  []uint64 `json:"msgs"`
	Bytes uint64   `json:"bytes"`
}

// StreamAlternate is another copy of the stream (a mirror) usable for reads.
type StreamAlternate struct {
	Name    string `json:"name"`
	Domain  string `json:"domain,omitempty"`
	Cluster string `json:"cluster"`
}

// StreamSourceInfo is the state of a mirror or source.
type StreamSourceInfo struct {
	Name              string                   `json:"name"`
	External          *ExternalStream          `json:"external,omitempty"`
	Lag               uint64                   `json:"lag"`
	Seq               uint64                   `json:"seq,omitempty"`
	Active            time.Duration            `json:"active"`
	Error             *APIError                `json:"error,omitempty"`
	FilterSubject     string                   `json:"filter_subject,omitempty"`
	SubjectTransforms []SubjectTransformConfig `json:"subject_transforms,omitempty"`
}

// ClusterInfo describes the replica group of a stream or consumer.
type ClusterInfo struct {
	Name        string      `json:"name,omitempty"`
	RaftGroup   string      `json:"raft_group,omitempty"`
	Leader      string      `json:"leader,omitempty"`
	LeaderSince *time.Time  `json:"leader_since,omitempty"`
	SystemAcc   bool        `json:"system_account,omitempty"`
	TrafficAcc  string      `json:"traffic_account,omitempty"`
	Replicas    []*PeerInfo `json:"replicas,omitempty"`
}

// PeerInfo is one non-leader replica.
type PeerInfo struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	// Active is the time since the peer was last seen.
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
	Peer    string        `json:"peer"`
	Pending bool          `json:"pending,omitempty"`
}
