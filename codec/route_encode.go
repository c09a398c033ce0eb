package codec

import (
	"encoding/json"
	"strconv"
)

// RouteInfo is the JSON body of a route INFO (sent by the accepting server)
// and of a route CONNECT (sent by the dialing server): who the sender is and
// which cluster members it knows, for gossip.
type RouteInfo struct {
	ID      string `json:"server_id"`
	Name    string `json:"server_name"`
	Cluster string `json:"cluster,omitempty"`
	Version string `json:"version"`
	// RouteURL is the host:port other servers dial to reach the sender's
	// route listener.
	RouteURL string `json:"route_url"`
	// ClientURL is the host:port clients connect to on the sender; it goes
	// into the connect_urls of every member's client INFO.
	ClientURL string `json:"client_url,omitempty"`
	// RaftAddr is the sender's raft listen address (host:port), carried for
	// replicated streams.
	RaftAddr string `json:"raft_addr,omitempty"`
	// NodeID is the sender's stable numeric node id (its raft replica id),
	// 0 when not configured. Unlike ID it survives restarts.
	NodeID uint64 `json:"node_id,omitempty"`
	// Routes are the route URLs of the members the sender is connected to;
	// a receiver dials those it lacks, so every server ends up connected to
	// every other.
	Routes     []string `json:"routes,omitempty"`
	MaxPayload int64    `json:"max_payload,omitempty"`
}

// AppendRouteInfo appends "INFO <json>\r\n" for in to dst.
func AppendRouteInfo(dst []byte, in *RouteInfo) []byte {
	return appendRouteJSON(dst, "INFO ", in)
}

// AppendRouteConnect appends "CONNECT <json>\r\n" for in to dst.
func AppendRouteConnect(dst []byte, in *RouteInfo) []byte {
	return appendRouteJSON(dst, "CONNECT ", in)
}

func appendRouteJSON(dst []byte, op string, in *RouteInfo) []byte {
	js, err := json.Marshal(in)
	if err != nil {
		// Unreachable: every field of RouteInfo encodes.
		panic("codec: encoding RouteInfo: " + err.Error())
	}
	dst = append(dst, op...)
	dst = append(dst, js...)
	return append(dst, "\r\n"...)
}

// ParseRouteInfo decodes the JSON of a route INFO or CONNECT line (b is
// only read). It returns a JSON error for anything that is not one object.
func ParseRouteInfo(b []byte) (RouteInfo, error) {
	var ri RouteInfo
	if len(b) == 0 {
		return ri, errEmptyConnect
	}
	err := json.Unmarshal(b, &ri)
	return ri, err
}

// AppendRouteSub appends "RS+ <account> <subject>\r\n", or with a queue
// group "RS+ <account> <subject> <queue> <weight>\r\n", to dst.
func AppendRouteSub(dst []byte, account, subject, queue string, weight int) []byte {
	dst = append(dst, "RS+ "...)
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	if queue != "" {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(weight), 10)
	}
	return append(dst, "\r\n"...)
}

// AppendRouteUnsub appends "RS- <account> <subject> [<queue>]\r\n" to dst.
func AppendRouteUnsub(dst []byte, account, subject, queue string) []byte {
	dst = append(dst, "RS- "...)
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	if queue != "" {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
	}
	return append(dst, "\r\n"...)
}

// AppendRouteMsg appends the control line of a routed message to dst:
// RMSG/HRMSG when chunked is false (the caller then writes size payload
// bytes and CRLF), LMSG/HLMSG when true (the caller then writes frames,
// AppendFrame per piece and FrameEnd or FrameAbort). hdrLen < 0 means no
// headers. At most MaxRouteQueues queue names are written. It allocates
// only to grow dst.
func AppendRouteMsg(dst []byte, account string, subject, reply []byte, queues []string, hdrLen, size int, chunked bool) []byte {
	switch {
	case hdrLen >= 0 && chunked:
		dst = append(dst, "HLMSG "...)
	case hdrLen >= 0:
		dst = append(dst, "HRMSG "...)
	case chunked:
		dst = append(dst, "LMSG "...)
	default:
		dst = append(dst, "RMSG "...)
	}
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	if len(queues) > MaxRouteQueues {
		queues = queues[:MaxRouteQueues]
	}
	switch {
	case len(queues) > 0 && len(reply) > 0:
		dst = append(dst, "+ "...)
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	case len(queues) > 0:
		dst = append(dst, "| "...)
	case len(reply) > 0:
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	for _, q := range queues {
		dst = append(dst, q...)
		dst = append(dst, ' ')
	}
	if hdrLen >= 0 {
		dst = strconv.AppendInt(dst, int64(hdrLen), 10)
		dst = append(dst, ' ')
	}
	dst = strconv.AppendInt(dst, int64(size), 10)
	return append(dst, "\r\n"...)
}

// AppendFrame appends the line "<n>\r\n" that precedes n payload bytes of a
// chunked routed message; n must be positive (0 is FrameEnd).
func AppendFrame(dst []byte, n int) []byte {
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, "\r\n"...)
}
