package broker

import (
	"bytes"

	"github.com/bargemq/barge/codec"
	"github.com/valyala/bytebufferpool"
)

// Server deliveries across routes.
//
// Server.Send delivers a server-originated message (an API reply, a
// consumer's delivery, a forwarded request) to the local subscribers of
// d.To and, in a cluster, to each peer with interest in it, once per peer,
// as a routed message (RMSG/HRMSG, never chunked: a stored message's
// extents are written behind the control line and read as the route drains,
// like a client's). A routed message has one subject, which the receiver
// both matches and shows; a delivery whose MSG subject differs from the
// subject it is routed by (a stored message delivered to a pull inbox or a
// deliver subject) names the shown subject in an extra token of the queue
// list, deliverAsPrefix followed by the subject. The receiving server takes
// that token out (routeIn.takeDeliverAs) and writes it on its clients' MSG
// lines. Queue names cannot start with it in practice: it begins with '$',
// which nats clients do not use for queue groups, and a token that merely
// looks alike only changes the shown subject of that one message.

// deliverAsPrefix starts the queue-list token that carries a routed server
// delivery's shown subject.
const deliverAsPrefix = "$BARGE.AS:"

// routeSends collects the peers a server delivery goes to, each with the
// queue groups it was picked for. Its zero value is empty and allocates
// nothing, so a Send without remote interest costs nothing more.
type routeSends struct {
	to []routeSend
}

type routeSend struct {
	peer   *peer
	queues []string
}

// add forwards the delivery to pe, for its plain subscribers (queue "")
// or for one member of queue.
func (rs *routeSends) add(pe *peer, queue string) {
	for i := range rs.to {
		if rs.to[i].peer == pe {
			if queue != "" {
				rs.to[i].queues = append(rs.to[i].queues, queue)
			}
			return
		}
	}
	r := routeSend{peer: pe}
	if queue != "" {
		r.queues = []string{queue}
	}
	rs.to = append(rs.to, r)
}

// addQueue forwards the delivery to the first reachable peer with a member
// of group (none of its local members took it).
func (rs *routeSends) addQueue(group []*Subscription) {
	for _, sub := range group {
		if sub.peer != nil && sub.peer.out.Load() != nil {
			rs.add(sub.peer, sub.Queue)
			return
		}
	}
}

// sendRoutes writes d to every peer in rs and returns how many took it.
func (s *Server) sendRoutes(rs *routeSends, buf *bytebufferpool.ByteBuffer, d *Delivery) int {
	hdrLen := -1
	if d.Hdr != nil {
		hdrLen = len(d.Hdr)
	}
	n := 0
	for _, r := range rs.to {
		ro := r.peer.out.Load()
		if ro == nil {
			continue
		}
		queues := r.queues
		if !bytes.Equal(d.Subject, d.To) {
			queues = append(queues, deliverAsPrefix+string(d.Subject))
		}
		b := codec.AppendRouteMsg(buf.B[:0], d.Account.name, d.To, d.Reply, queues, hdrLen, int(d.Size), false)
		b = append(b, d.Hdr...)
		b = append(b, d.Body...)
		var err error
		if len(d.Ext) == 0 {
			b = append(b, crlf...)
			err = ro.t.Write(b)
		} else {
			err = ro.t.WriteExtents(b, d.Ext, s.lines.crlf)
		}
		buf.B = b
		if err != nil {
			continue
		}
		r.peer.outMsgs.Add(1)
		r.peer.outBytes.Add(d.Size)
		n++
	}
	return n
}

// takeDeliverAs splits a routed message's queue list into the queue groups
// and the shown subject of a server delivery (nil when absent). Both are
// valid until the next call.
func (ri *routeIn) takeDeliverAs(queues [][]byte) ([][]byte, []byte) {
	var as []byte
	found := false
	for _, q := range queues {
		if bytes.HasPrefix(q, []byte(deliverAsPrefix)) {
			found = true
			break
		}
	}
	if !found {
		return queues, nil
	}
	ri.qs = ri.qs[:0]
	for _, q := range queues {
		if bytes.HasPrefix(q, []byte(deliverAsPrefix)) {
			ri.as = append(ri.as[:0], q[len(deliverAsPrefix):]...)
			as = ri.as
			continue
		}
		ri.qs = append(ri.qs, q)
	}
	return ri.qs, as
}
