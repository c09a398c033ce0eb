package jsapi

import (
	"fmt"
	"strings"
)

// Every enum in this file is an int on the Go side and a fixed JSON string
// on the wire. MarshalJSON of a value outside the defined range returns an
// error (as nats-server does), except DeliverPolicy which writes "undefined".
// UnmarshalJSON accepts exactly the strings nats-server accepts.

// errUnmarshal formats an enum decoding error the way nats-server words it.
func errUnmarshal(data []byte) error {
	return fmt.Errorf("can not unmarshal %q", data)
}

// RetentionPolicy says when a stream may remove a message.
type RetentionPolicy int

const (
	// LimitsPolicy keeps messages until a limit (max_msgs, max_bytes, max_age...) removes them.
	LimitsPolicy RetentionPolicy = iota
	// InterestPolicy removes a message once every consumer has acknowledged it.
	InterestPolicy
	// WorkQueuePolicy removes a message once the first consumer acknowledges it.
	WorkQueuePolicy
)

// String returns the wire name ("limits", "interest", "workqueue").
func (p RetentionPolicy) String() string {
	switch p {
	case LimitsPolicy:
		return "limits"
	case InterestPolicy:
		return "interest"
	case WorkQueuePolicy:
		return "workqueue"
	}
	return "unknown"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (p RetentionPolicy) MarshalJSON() ([]byte, error) {
	if p < LimitsPolicy || p > WorkQueuePolicy {
		return nil, fmt.Errorf("can not marshal %v", int(p))
	}
	return quoted(p.String()), nil
}

// UnmarshalJSON accepts "limits", "interest" or "workqueue".
func (p *RetentionPolicy) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"limits"`:
		*p = LimitsPolicy
	case `"interest"`:
		*p = InterestPolicy
	case `"workqueue"`:
		*p = WorkQueuePolicy
	default:
		return errUnmarshal(data)
	}
	return nil
}

// DiscardPolicy says what a stream does when a limit is reached.
type DiscardPolicy int

const (
	// DiscardOld removes the oldest messages to make room.
	DiscardOld DiscardPolicy = iota
	// DiscardNew refuses the new message.
	DiscardNew
)

// String returns the wire name ("old", "new").
func (p DiscardPolicy) String() string {
	switch p {
	case DiscardOld:
		return "old"
	case DiscardNew:
		return "new"
	}
	return "unknown"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (p DiscardPolicy) MarshalJSON() ([]byte, error) {
	if p != DiscardOld && p != DiscardNew {
		return nil, fmt.Errorf("can not marshal %v", int(p))
	}
	return quoted(p.String()), nil
}

// UnmarshalJSON accepts "old" or "new" in any letter case, as nats-server does.
func (p *DiscardPolicy) UnmarshalJSON(data []byte) error {
	switch strings.ToLower(string(data)) {
	case `"old"`:
		*p = DiscardOld
	case `"new"`:
		*p = DiscardNew
	default:
		return errUnmarshal(data)
	}
	return nil
}

// StorageType is where a stream or consumer keeps its state.
type StorageType int

const (
	// FileStorage keeps data on disk (the default).
	FileStorage StorageType = iota
	// MemoryStorage keeps data in memory only.
	MemoryStorage
)

// String returns the wire name ("file", "memory").
func (t StorageType) String() string {
	switch t {
	case FileStorage:
		return "file"
	case MemoryStorage:
		return "memory"
	}
	return "unknown"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (t StorageType) MarshalJSON() ([]byte, error) {
	if t != FileStorage && t != MemoryStorage {
		return nil, fmt.Errorf("can not marshal %v", int(t))
	}
	return quoted(t.String()), nil
}

// UnmarshalJSON accepts "file" or "memory".
func (t *StorageType) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"file"`:
		*t = FileStorage
	case `"memory"`:
		*t = MemoryStorage
	default:
		return errUnmarshal(data)
	}
	return nil
}

// Compression is the at-rest compression of a stream's store.
type Compression int

const (
	// NoCompression stores messages as they are.
	NoCompression Compression = iota
	// S2Compression compresses stored blocks with S2.
	S2Compression
)

// String returns the wire name ("none", "s2").
func (c Compression) String() string {
	switch c {
	case NoCompression:
		return "none"
	case S2Compression:
		return "s2"
	}
	return "unknown"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (c Compression) MarshalJSON() ([]byte, error) {
	if c != NoCompression && c != S2Compression {
		return nil, fmt.Errorf("unknown compression algorithm")
	}
	return quoted(c.String()), nil
}

// UnmarshalJSON accepts "none" or "s2".
func (c *Compression) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"none"`:
		*c = NoCompression
	case `"s2"`:
		*c = S2Compression
	default:
		return fmt.Errorf("unknown compression algorithm")
	}
	return nil
}

// PersistMode says whether a publish is acknowledged before or after it is
// flushed (nats-server 2.12+). It is omitted from JSON when PersistDefault.
type PersistMode int

const (
	// PersistDefault acknowledges after the write is persisted.
	PersistDefault PersistMode = iota
	// PersistAsync may acknowledge before the write is persisted.
	PersistAsync
)

// String returns the wire name ("default", "async").
func (m PersistMode) String() string {
	switch m {
	case PersistDefault:
		return "default"
	case PersistAsync:
		return "async"
	}
	return "unknown"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (m PersistMode) MarshalJSON() ([]byte, error) {
	if m != PersistDefault && m != PersistAsync {
		return nil, fmt.Errorf("can not marshal %v", int(m))
	}
	return quoted(m.String()), nil
}

// UnmarshalJSON accepts "default", "" or "async".
func (m *PersistMode) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"default"`, `""`:
		*m = PersistDefault
	case `"async"`:
		*m = PersistAsync
	default:
		return errUnmarshal(data)
	}
	return nil
}

// DeliverPolicy says where a consumer starts in its stream.
type DeliverPolicy int

const (
	// DeliverAll starts at the first message.
	DeliverAll DeliverPolicy = iota
	// DeliverLast starts at the last message.
	DeliverLast
	// DeliverNew starts after the last message at creation time.
	DeliverNew
	// DeliverByStartSequence starts at ConsumerConfig.OptStartSeq.
	DeliverByStartSequence
	// DeliverByStartTime starts at the first message at or after OptStartTime.
	DeliverByStartTime
	// DeliverLastPerSubject starts with the last message of every subject.
	DeliverLastPerSubject
)

// String returns the wire name ("all", "last", "new", "by_start_sequence",
// "by_start_time", "last_per_subject"), or "undefined".
func (p DeliverPolicy) String() string {
	switch p {
	case DeliverAll:
		return "all"
	case DeliverLast:
		return "last"
	case DeliverNew:
		return "new"
	case DeliverByStartSequence:
		return "by_start_sequence"
	case DeliverByStartTime:
		return "by_start_time"
	case DeliverLastPerSubject:
		return "last_per_subject"
	}
	return "undefined"
}

// MarshalJSON writes the quoted wire name; unknown values write "undefined".
func (p DeliverPolicy) MarshalJSON() ([]byte, error) {
	return quoted(p.String()), nil
}

// UnmarshalJSON accepts the wire names; "undefined" reads as DeliverAll.
func (p *DeliverPolicy) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"all"`, `"undefined"`:
		*p = DeliverAll
	case `"last"`:
		*p = DeliverLast
	case `"new"`:
		*p = DeliverNew
	case `"by_start_sequence"`:
		*p = DeliverByStartSequence
	case `"by_start_time"`:
		*p = DeliverByStartTime
	case `"last_per_subject"`:
		*p = DeliverLastPerSubject
	default:
		return errUnmarshal(data)
	}
	return nil
}

// AckPolicy says how a consumer's messages are acknowledged.
type AckPolicy int

const (
	// AckNone needs no acknowledgements.
	AckNone AckPolicy = iota
	// AckAll acknowledges a message and every message before it.
	AckAll
	// AckExplicit needs every message acknowledged on its own.
	AckExplicit
	// AckFlowControl acknowledges through flow-control replies (nats-server 2.14+).
	AckFlowControl
)

// String returns the wire name ("none", "all", "explicit", "flow_control").
func (p AckPolicy) String() string {
	switch p {
	case AckNone:
		return "none"
	case AckAll:
		return "all"
	case AckExplicit:
		return "explicit"
	case AckFlowControl:
		return "flow_control"
	}
	return "unknown"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (p AckPolicy) MarshalJSON() ([]byte, error) {
	if p < AckNone || p > AckFlowControl {
		return nil, fmt.Errorf("can not marshal %v", int(p))
	}
	return quoted(p.String()), nil
}

// UnmarshalJSON accepts "none", "all", "explicit" or "flow_control".
func (p *AckPolicy) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"none"`:
		*p = AckNone
	case `"all"`:
		*p = AckAll
	case `"explicit"`:
		*p = AckExplicit
	case `"flow_control"`:
		*p = AckFlowControl
	default:
		return errUnmarshal(data)
	}
	return nil
}

// ReplayPolicy says how fast stored messages are replayed.
type ReplayPolicy int

const (
	// ReplayInstant delivers as fast as the consumer allows.
	ReplayInstant ReplayPolicy = iota
	// ReplayOriginal keeps the original gaps between messages.
	ReplayOriginal
)

// String returns the wire name ("instant", "original").
func (p ReplayPolicy) String() string {
	switch p {
	case ReplayInstant:
		return "instant"
	case ReplayOriginal:
		return "original"
	}
	return "unknown"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (p ReplayPolicy) MarshalJSON() ([]byte, error) {
	if p != ReplayInstant && p != ReplayOriginal {
		return nil, fmt.Errorf("can not marshal %v", int(p))
	}
	return quoted(p.String()), nil
}

// UnmarshalJSON accepts "instant" or "original".
func (p *ReplayPolicy) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"instant"`:
		*p = ReplayInstant
	case `"original"`:
		*p = ReplayOriginal
	default:
		return errUnmarshal(data)
	}
	return nil
}

// ConsumerAction is the "action" of a consumer create request.
type ConsumerAction int

const (
	// ActionCreateOrUpdate (wire "") creates the consumer or updates an existing one.
	ActionCreateOrUpdate ConsumerAction = iota
	// ActionUpdate (wire "update") only updates an existing consumer.
	ActionUpdate
	// ActionCreate (wire "create") only creates; an existing consumer with a
	// different config is an error.
	ActionCreate
)

// String returns the wire name ("", "update", "create").
func (a ConsumerAction) String() string {
	switch a {
	case ActionUpdate:
		return "update"
	case ActionCreate:
		return "create"
	}
	return ""
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (a ConsumerAction) MarshalJSON() ([]byte, error) {
	if a < ActionCreateOrUpdate || a > ActionCreate {
		return nil, fmt.Errorf("can not marshal %v", int(a))
	}
	return quoted(a.String()), nil
}

// UnmarshalJSON accepts "", "update" or "create".
func (a *ConsumerAction) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `""`:
		*a = ActionCreateOrUpdate
	case `"update"`:
		*a = ActionUpdate
	case `"create"`:
		*a = ActionCreate
	default:
		return fmt.Errorf("unknown consumer action: %v", string(data))
	}
	return nil
}

// PriorityPolicy selects how pull requests of priority groups are served.
// It is omitted from JSON when PriorityNone.
type PriorityPolicy int

const (
	// PriorityNone: no priority groups.
	PriorityNone PriorityPolicy = iota
	// PriorityOverflow serves a request only past its min_pending/min_ack_pending.
	PriorityOverflow
	// PriorityPinnedClient serves one pinned client; others stand by.
	PriorityPinnedClient
	// PriorityPrioritized serves the lowest "priority" value first.
	PriorityPrioritized
)

// String returns the wire name ("none", "overflow", "pinned_client", "prioritized").
func (p PriorityPolicy) String() string {
	switch p {
	case PriorityOverflow:
		return "overflow"
	case PriorityPinnedClient:
		return "pinned_client"
	case PriorityPrioritized:
		return "prioritized"
	}
	return "none"
}

// MarshalJSON writes the quoted wire name; unknown values are an error.
func (p PriorityPolicy) MarshalJSON() ([]byte, error) {
	if p < PriorityNone || p > PriorityPrioritized {
		return nil, fmt.Errorf("unknown priority policy: %v", int(p))
	}
	return quoted(p.String()), nil
}

// UnmarshalJSON accepts "none", "overflow", "pinned_client" or "prioritized".
func (p *PriorityPolicy) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"none"`:
		*p = PriorityNone
	case `"overflow"`:
		*p = PriorityOverflow
	case `"pinned_client"`:
		*p = PriorityPinnedClient
	case `"prioritized"`:
		*p = PriorityPrioritized
	default:
		return fmt.Errorf("unknown priority policy: %v", string(data))
	}
	return nil
}

// quoted returns s in double quotes; s is one of this file's plain ASCII names.
func quoted(s string) []byte {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
