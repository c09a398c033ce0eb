package consumer

import (
	"github.com/bargemq/barge/codec/jsapi"
)

// Set is the consumers of one stream. See contract.go for the API the
// jetstream package relies on.
//
// This is the initial stub of the contract so both sides compile while they
// are built; every operation answers "not implemented" until the real
// consumers replace it.
type Set struct {
	env Env
	st  Stream
	dir string
}

// NewSet returns the consumer set of st, loading durable consumers from dir.
func NewSet(env Env, st Stream, dir string) (*Set, error) {
	return &Set{env: env, st: st, dir: dir}, nil
}

func notImplemented() *jsapi.APIError {
	return jsapi.NewAPIError(jsapi.ErrCodeBadRequest)
}

// Create adds or updates a consumer.
func (s *Set) Create(req *jsapi.CreateConsumerRequest, subjectName, subjectFilter string) (*jsapi.ConsumerInfo, *jsapi.APIError) {
	return nil, notImplemented()
}

// Info describes consumer name.
func (s *Set) Info(name string) (*jsapi.ConsumerInfo, *jsapi.APIError) {
	return nil, notImplemented()
}

// Delete removes consumer name and its state.
func (s *Set) Delete(name string) *jsapi.APIError { return notImplemented() }

// Names lists the consumers' names, sorted.
func (s *Set) Names() []string { return nil }

// List describes every consumer, sorted by name.
func (s *Set) List() []*jsapi.ConsumerInfo { return nil }

// Count is the number of consumers.
func (s *Set) Count() int { return 0 }

// Next serves a pull request for consumer name; replies go to reply.
func (s *Set) Next(name string, reply []byte, body []byte) {}

// StreamChanged tells the consumers the stream was purged, a message
// deleted or its config updated.
func (s *Set) StreamChanged() {}

// Close stops every consumer and keeps their state.
func (s *Set) Close() {}

// DeleteAll stops every consumer and removes their state.
func (s *Set) DeleteAll() {}
