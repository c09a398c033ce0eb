package consumer

import (
	"log/slog"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Stream is what consumers need from the stream they read. The jetstream
// package's stream implements it; consumers never see its other parts.
type Stream interface {
	// Name is the stream's name.
	Name() string
	// Reader reads the stream's messages: LoadMsg/LoadNext to read,
	// Changed/Wait to learn of new ones, SeqAtTime/LastSeqForSubject for
	// deliver policies, State for num_pending. Consumers never write.
	Reader() log.Reader
	// Config is the stream's current configuration (retention, subjects).
	Config() jsapi.StreamConfig
	// Remove deletes seq from the stream. Consumers call it under interest
	// and workqueue retention once every consumer that must acknowledge seq
	// has done so. Removing an already removed message is not an error.
	Remove(seq uint64) error
}

// Env is the server side a consumer set works in.
type Env struct {
	// Server routes deliveries (Deliver, DeliverExtents) and takes the
	// internal subscriptions of acks and flow-control replies.
	Server *broker.Account
	// Clock drives ack_wait, backoff, expiry of pull requests, idle
	// heartbeats and inactive_threshold; tests inject a fake one.
	Clock broker.Clock
	// Logger reports consumer state errors.
	Logger *slog.Logger
	// FS is the file system durable consumers' config and state go
	// through (the log's seam; nil: the OS).
	FS log.FS
	// Store, when set, makes the set a replicated stream's (replicated.go):
	// durable consumers' definitions and state live in Store instead of
	// dir, and the set runs consumers only while SetActive(true) (on the
	// stream's leader).
	Store Store
}

// The Set API the jetstream package calls. Set is one stream's consumers;
// its methods are safe for concurrent use. API errors are *jsapi.APIError
// values with nats-server's codes.
//
//	func NewSet(env Env, st Stream, dir string) (*Set, error)
//	    dir is <stream dir>/consumers; durable consumers found there are
//	    loaded with their state and resume delivering.
//	func (s *Set) Create(req *jsapi.CreateConsumerRequest, subjectName, subjectFilter string) (*jsapi.ConsumerInfo, *jsapi.APIError)
//	    CONSUMER.CREATE.<stream>[.<name>[.<filter>]] and
//	    CONSUMER.DURABLE.CREATE.<stream>.<durable>; subjectName and
//	    subjectFilter are the names from the API subject ("" if absent).
//	func (s *Set) Info(name string) (*jsapi.ConsumerInfo, *jsapi.APIError)
//	func (s *Set) Delete(name string) *jsapi.APIError
//	func (s *Set) Names() []string
//	func (s *Set) List() []*jsapi.ConsumerInfo
//	func (s *Set) Count() int
//	func (s *Set) Next(name string, reply []byte, body []byte)
//	    CONSUMER.MSG.NEXT.<stream>.<name>: a pull request; messages and
//	    status replies go to reply.
//	func (s *Set) Pause(name string, until time.Time) (PauseState, *jsapi.APIError)
//	    CONSUMER.PAUSE.<stream>.<name>: set pause_until (zero resumes).
//	func (s *Set) Unpin(name, group string) *jsapi.APIError
//	    CONSUMER.UNPIN.<stream>.<name>: drop a priority group's pin.
//	func (s *Set) StreamChanged()
//	    The stream was purged, a message deleted, or its config updated:
//	    re-check pending counts and waiting requests.
//	func (s *Set) Close()
//	    Stop every consumer, keep their state on disk (server shutdown).
//	func (s *Set) DeleteAll()
//	    Stop every consumer and remove their state (stream deleted).
//	func (s *Set) Active() bool
//	func (s *Set) SetActive(active bool) error
//	    A replicated stream's set (Env.Store): run the consumers kept in
//	    Store (this member leads the stream) or stop them all.
//	func (s *Set) HandleAck(subject, reply, body []byte)
//	    An ack or flow-control reply forwarded from another member.
