package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// Durable sourcing (nats-server 2.14): a mirror or source whose `consumer`
// names a durable consumer of the origin.
//
// The origin's consumer decides what is copied: its filters replace the
// feed's, and the feed starts after the later of its own position and
// the consumer's ack floor (nats-server resets the consumer to its ack
// floor and drops what it redelivers at or below its own position). The
// consumer must have ack policy flow_control, or the feed copies nothing
// and reports 10214 (mirror) or 10217 (source) in its info; a consumer
// not found reports 10014. The feed reads the origin in-process as any
// feed does and, each time it caught up and every feedReportEvery copies,
// once every copy in flight is durable, reports its position to the
// consumer (consumer.SourcedSubject, forwarded to the member running the
// consumer in a cluster): the consumer's delivered and ack floor move
// there and are kept in its state, so CONSUMER.INFO shows the sourcing
// progress and a restart resumes from it.
//
// A source through a consumer has its own index name, "<origin>:C=<hash
// of the consumer name>" as nats-server writes it in Nats-Stream-Source.

// feedReportEvery is how many copies a durable feed makes between two
// progress reports while it is behind.
const feedReportEvery = 1024

// errFeedNotReady ends a copy pass that cannot start yet (the durable
// consumer is missing, unsuitable or not reachable); the feed's info
// carries the reason and run retries after feedRetry.
var errFeedNotReady = errors.New("jetstream: feed not ready")

// durableStart reads the feed's consumer: its filters become the feed's,
// and its ack floor is returned.
func (f *feed) durableStart(ctx context.Context, origin *stream) (uint64, error) {
	ci, apiErr := f.durableInfo(ctx, origin)
	if apiErr == nil && (ci == nil || ci.Config == nil) {
		apiErr = jsapi.NewAPIError(jsapi.ErrCodeConsumerNotFound)
	}
	if apiErr == nil && ci.Config.AckPolicy != jsapi.AckFlowControl {
		apiErr = jsapi.NewAPIError(jsapi.ErrCodeSourceConsumerRequiresAckFC)
		if f.mirror {
			apiErr = jsapi.NewAPIError(jsapi.ErrCodeMirrorConsumerRequiresAckFC)
		}
	}
	if apiErr != nil {
		f.setErr(apiErr)
		return 0, errFeedNotReady
	}
	f.cfilters = ci.Config.FilterSubjects
	if ci.Config.FilterSubject != "" {
		f.cfilters = []string{ci.Config.FilterSubject}
	}
	f.reported = ci.AckFloor.Stream
	return ci.AckFloor.Stream, nil
}

// durableInfo is the consumer's info: from the origin's set where it runs
// here (always for R1), else asked of the origin's leader.
func (f *feed) durableInfo(ctx context.Context, origin *stream) (*jsapi.ConsumerInfo, *jsapi.APIError) {
	if origin.repl == nil || origin.cons.Active() {
		return origin.cons.Info(f.src.Consumer.Name)
	}
	cs := f.e.cl.Load()
	leader, ok := origin.repl.Leader()
	if cs == nil || !ok || leader == cs.c.NodeID() {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamOffline)
	}
	ctx, cancel := context.WithTimeout(ctx, remoteInfoWait)
	defer cancel()
	b := f.e.remoteAPI(ctx, cs, "CONSUMER.INFO."+origin.name+"."+f.src.Consumer.Name, []uint64{leader})
	var resp jsapi.ConsumerInfoResponse
	if b == nil || json.Unmarshal(b, &resp) != nil {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamOffline)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp.ConsumerInfo, nil
}

// loadNext is the origin's next message at or after seq that the feed
// copies: through the feed's filter or, for a durable feed, its
// consumer's filters.
func (f *feed) loadNext(r log.Reader, seq uint64, sm *log.StoredMsg) (uint64, error) {
	switch len(f.cfilters) {
	case 0:
		return r.LoadNext(seq, f.filter, sm)
	case 1:
		return r.LoadNext(seq, f.cfilters[0], sm)
	}
	for {
		got, err := r.LoadNext(seq, ">", sm)
		if err != nil {
			return got, err
		}
		for _, flt := range f.cfilters {
			if subject.Matches(flt, sm.Subject) {
				return got, nil
			}
		}
		seq = got + 1
	}
}

// reportDurable tells the feed's consumer how far its copies are durable,
// once every copy in flight was decided, when that moved since the last
// report. The run goroutine only.
func (f *feed) reportDurable() {
	f.sinceReport = 0
	if f.src.Consumer == nil || !f.posKnown || !f.st.leads() {
		return
	}
	f.drain()
	f.mu.Lock()
	pos, failed := f.mu.pos, f.mu.failed
	f.mu.Unlock()
	if failed || pos <= f.reported {
		return
	}
	subj := consumer.SourcedSubject(f.src.Name, f.src.Consumer.Name)
	f.e.srv.Deliver([]byte(subj), nil, nil, strconv.AppendUint(nil, pos, 10))
	f.reported = pos
}
