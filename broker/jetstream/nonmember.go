package jetstream

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/subject"
)

// Streams without a replica on this node.
//
// Every clustered node reads the meta shard's stream definitions every
// 100 ms (cluster.go). The streams placed elsewhere are kept here, so that
//
//   - a publish on this node to one of their subjects is captured anyway:
//     Capture returns a broker.Redirect, and the broker routes the message
//     (in pieces as it arrives when large, in the publisher's order) to the
//     first reachable member, in node-id order, asking it to capture it;
//     that member stores it through its replica and answers the client's
//     reply subject, which the routes carry back. Only the member it was
//     routed to captures it (routed messages are captured only when asked),
//     so it is stored once;
//   - STREAM.NAMES, STREAM.LIST and $JS.API.INFO count them: names come
//     from the meta shard, the list's infos and the account's bytes and
//     consumers from the streams' leaders (nonmember_info.go), or the
//     definition with an empty state when a leader does not answer.
//
// The members are reached through their forwarding subjects
// ($BARGE.JS.FWD.<node>.…, forward.go), whose interest every member
// advertises over the routes.

// nonMembers holds the last snapshot of the streams placed elsewhere.
type nonMembers struct {
	snap atomic.Pointer[nmSnapshot]
	// mu serializes note (the poll loop and API-triggered syncs) and
	// guards key.
	mu sync.Mutex
	// key fingerprints the snapshot's streams, subjects and members, so an
	// unchanged meta shard rebuilds nothing.
	key string
}

// nmSnapshot is an immutable view of the streams placed elsewhere.
type nmSnapshot struct {
	defs     map[string]*remoteStream // by stream name
	subjects *broker.Sublist
	bySub    map[*broker.Subscription]*remoteStream
}

// remoteStream is a stream with no replica on this node.
type remoteStream struct {
	def replDef
	rd  *redirect
}

// redirect is the broker.Redirect Capture returns for a remoteStream's
// subjects; the broker never calls its Capture methods.
type redirect struct{ via [][]byte }

func (r *redirect) Headers([]byte) {}
func (r *redirect) Write([]byte)   {}
func (r *redirect) End()           {}
func (r *redirect) Abort()         {}

// Via returns the members' forwarding subjects, lowest node id first.
func (r *redirect) Via() [][]byte { return r.via }

// note replaces the snapshot with the streams of defs that self is not a
// member of.
func (nm *nonMembers) note(self uint64, defs []replDef) {
	var remote []replDef
	var key strings.Builder
	for _, d := range defs {
		if _, ok := d.Members[self]; ok {
			continue
		}
		remote = append(remote, d)
	}
	sort.Slice(remote, func(i, j int) bool { return remote[i].Config.Name < remote[j].Config.Name })
	for i := range remote {
		d := &remote[i]
		key.WriteString(d.Config.Name)
		key.WriteByte(0)
		key.WriteString(d.Created.String())
		for _, s := range d.Config.Subjects {
			key.WriteByte(1)
			key.WriteString(s)
		}
		for _, id := range sortedIDs(d.Members) {
			key.WriteByte(2)
			key.WriteString(strconv.FormatUint(id, 10))
		}
		key.WriteByte(3)
	}
	nm.mu.Lock()
	defer nm.mu.Unlock()
	if nm.snap.Load() != nil && key.String() == nm.key {
		// Same streams; keep configs fresh for listing.
		old := nm.snap.Load()
		for i := range remote {
			if rs := old.defs[remote[i].Config.Name]; rs != nil && !sameConfig(&rs.def.Config, &remote[i].Config) {
				nm.snap.Store(buildSnapshot(remote))
				return
			}
		}
		return
	}
	nm.key = key.String()
	nm.snap.Store(buildSnapshot(remote))
}

// buildSnapshot indexes remote's subjects.
func buildSnapshot(remote []replDef) *nmSnapshot {
	s := &nmSnapshot{defs: make(map[string]*remoteStream, len(remote)), subjects: broker.NewSublist(0),
		bySub: make(map[*broker.Subscription]*remoteStream)}
	for _, d := range remote {
		rs := &remoteStream{def: d, rd: &redirect{}}
		for _, id := range sortedIDs(d.Members) {
			rs.rd.via = append(rs.rd.via, fwdSubject(id, maxHops, "$BARGE.PUB"))
		}
		s.defs[d.Config.Name] = rs
		for _, subj := range d.Config.Subjects {
			sub := &broker.Subscription{Subject: subj}
			if s.subjects.Insert(sub) == nil {
				s.bySub[sub] = rs
			}
		}
	}
	return s
}

// match returns the stream placed elsewhere that listens on subject.
func (nm *nonMembers) match(subject []byte) *remoteStream {
	s := nm.snap.Load()
	if s == nil || len(s.defs) == 0 {
		return nil
	}
	r := s.subjects.Match(subject)
	if len(r.Psubs) == 0 {
		return nil
	}
	return s.bySub[r.Psubs[0]]
}

// remote returns the streams placed elsewhere, sorted by name.
func (nm *nonMembers) remote() []*remoteStream {
	s := nm.snap.Load()
	if s == nil {
		return nil
	}
	out := make([]*remoteStream, 0, len(s.defs))
	for _, rs := range s.defs {
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].def.Config.Name < out[j].def.Config.Name })
	return out
}

// sortedIDs returns m's node ids in increasing order.
func sortedIDs(m map[uint64]string) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// captureRemote returns the redirect for a publish to a stream placed on
// other members, or nil.
func (e *Engine) captureRemote(subject []byte) broker.Capture {
	cs := e.cl.Load()
	if cs == nil {
		return nil
	}
	if rs := cs.nm.match(subject); rs != nil && len(rs.rd.via) > 0 {
		return rs.rd
	}
	return nil
}

// listedStream is one entry of STREAM.NAMES / STREAM.LIST: a local stream
// or one placed on other members.
type listedStream struct {
	name   string
	st     *stream
	remote *remoteStream
}

// info is the entry's stream info: a local stream's own, or a remote one's
// configuration and placement with an empty state.
func (e *Engine) listedInfo(ls *listedStream) *jsapi.StreamInfo {
	if ls.st != nil {
		return ls.st.info(nil)
	}
	d := &ls.remote.def
	cfg := d.Config
	cfg.Metadata = withServerLevel(cfg.Metadata)
	si := &jsapi.StreamInfo{Config: cfg, Created: d.Created.UTC(), TimeStamp: e.o.Clock.Now().UTC()}
	if cs := e.cl.Load(); cs != nil {
		ci := &jsapi.ClusterInfo{Name: e.o.ClusterName, RaftGroup: d.Config.Name}
		for _, id := range sortedIDs(d.Members) {
			ci.Replicas = append(ci.Replicas, &jsapi.PeerInfo{Name: cs.c.NodeName(id), Peer: strconv.FormatUint(id, 10)})
		}
		si.Cluster = ci
	}
	return si
}

// listedStreams is filteredStreams with the streams placed elsewhere
// added, sorted by name.
func (e *Engine) listedStreams(req *jsapi.StreamNamesRequest) []listedStream {
	local := e.filteredStreams(req)
	out := make([]listedStream, 0, len(local))
	for _, st := range local {
		out = append(out, listedStream{name: st.name, st: st})
	}
	cs := e.cl.Load()
	if cs == nil {
		return out
	}
	for _, rs := range cs.nm.remote() {
		if e.lookup(rs.def.Config.Name) != nil {
			continue
		}
		if req.Subject != "" && !slices.ContainsFunc(rs.def.Config.Subjects, func(s string) bool { return subject.Overlap(s, req.Subject) }) {
			continue
		}
		out = append(out, listedStream{name: rs.def.Config.Name, remote: rs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// remoteListed returns the streams placed on other members (none without
// a cluster), as listing entries.
func (e *Engine) remoteListed() []listedStream {
	cs := e.cl.Load()
	if cs == nil {
		return nil
	}
	var out []listedStream
	for _, rs := range cs.nm.remote() {
		if e.lookup(rs.def.Config.Name) == nil {
			out = append(out, listedStream{name: rs.def.Config.Name, remote: rs})
		}
	}
	return out
}

// remoteUsage sums the stored bytes and consumers of streams placed on
// other members, as their leaders report them (a stream whose leader does
// not answer counts as empty).
func (e *Engine) remoteUsage(remote []listedStream) (bytes uint64, consumers int) {
	for _, si := range e.listedInfos(remote) {
		bytes += si.State.Bytes
		consumers += si.State.Consumers
	}
	return bytes, consumers
}

// createOnMember forwards a STREAM.CREATE that places the stream d only on
// other nodes to the first of them (it then waits there for its replica
// and answers the client), and reports whether it did. A request that was
// forwarded as often as it may be is created here: the reply then carries
// the definition with an empty state.
func (e *Engine) createOnMember(r *apiReq, cs *clusterState, d *replDef) bool {
	if _, ok := d.Members[cs.c.NodeID()]; ok || r.hops >= maxHops {
		return false
	}
	e.forwardReq(sortedIDs(d.Members)[0], r, jsapi.OpStreamCreate)
	return true
}

// createdElsewhere answers a STREAM.CREATE whose stream the meta shard
// now defines without this node as a member (an idempotent create through
// a node without a replica, or a create forwarded as often as it may be),
// and reports whether it did: the definition with an empty state, or 10058
// when an existing stream's config differs.
func (e *Engine) createdElsewhere(ctx context.Context, r *apiReq, cs *clusterState, cfg *jsapi.StreamConfig, created bool) bool {
	typ := jsapi.TypeStreamCreateResponse
	d, err := e.replDefOf(ctx, cs, cfg.Name)
	if err != nil || d == nil {
		return false
	}
	if _, ok := d.Members[cs.c.NodeID()]; ok {
		return false
	}
	if !created && !reflect.DeepEqual(d.Config, *cfg) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNameExist))
		return true
	}
	e.syncReplicated(ctx, cs)
	info := e.listedInfo(&listedStream{name: cfg.Name, remote: &remoteStream{def: *d}})
	e.respond(r.reply, &jsapi.StreamCreateResponse{APIResponse: jsapi.APIResponse{Type: typ}, StreamInfo: info, DidCreate: created})
	return true
}
