package jetstream

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/codec"

	"github.com/bargemq/barge/codec/jsapi"
)

// Read permissions (barge's own; nats-server checks none of this): a user
// with subscribe permissions reads stored messages only where it may
// subscribe. The requester's permissions come with the request
// (broker.InternalMsg.Perms, apiReq.perms; nil restricts nothing, as for
// the server's own requests). A consumer create needs MayRead on each of its
// filters (the stream's subjects when it has none), a pull request on the
// consumer's, and a message get or direct get on the subject of the
// message found. A refusal is a 403 whose description is the subscribe
// violation's wording, with no err_code (nats-server has none for it).

// A request forwarded to a stream's leader carries the requester's
// permissions in the header readPermsHeader (JSON of auth.Permissions), so
// that the leader checks them. A client with permissions cannot publish to
// the forwarding subjects (broker's $BARGE. rule), so the header cannot be
// forged by one whose reads are restricted.
const readPermsHeader = "Barge-Read-Perms"

// withReadPerms returns hdr (a header block or nothing) with p added.
func withReadPerms(hdr []byte, p *auth.Perms) []byte {
	js, err := json.Marshal(p.Source())
	if err != nil {
		return hdr
	}
	var out []byte
	if len(hdr) < len("NATS/1.0\r\n\r\n") {
		out = codec.AppendHeaderStart(nil, 0, "")
	} else {
		out = append(out, hdr[:len(hdr)-2]...) // up to the blank line
	}
	out = codec.AppendHeader(out, readPermsHeader, string(js))
	return codec.AppendHeaderEnd(out)
}

// readPermsOf reads the permissions a forwarded request carries: nil when
// none; ones that do not parse deny every read. The last header counts:
// the forwarding member appends its own after whatever the client sent.
func readPermsOf(hdr []byte) *auth.Perms {
	var v []byte
	ok := false
	for _, line := range bytes.Split(hdr, []byte("\r\n")) {
		k, val, found := bytes.Cut(line, []byte(":"))
		if found && bytes.EqualFold(bytes.TrimSpace(k), []byte(readPermsHeader)) {
			v, ok = bytes.TrimSpace(val), true
		}
	}
	if !ok {
		return nil
	}
	var src auth.Permissions
	if json.Unmarshal(v, &src) == nil {
		if p, err := auth.Compile(&src); err == nil && p != nil {
			return p
		}
	}
	p, _ := auth.Compile(&auth.Permissions{Subscribe: &auth.SubjectPermission{Deny: []string{">"}}})
	return p
}

// readDeniedText is the description of a refused read of subj.
func readDeniedText(subj string) string {
	return "Permissions Violation for Subscription to " + strconv.Quote(subj)
}

func readDenied(subj string) *jsapi.APIError {
	return &jsapi.APIError{Code: 403, Description: readDeniedText(subj)}
}

// mayRead reports whether the requester may read messages on subj (a
// subject or a filter).
func (r *apiReq) mayRead(subj string) bool { return r.perms == nil || r.perms.MayRead(subj) }

// deniedFilter returns the first of filters (the stream's subjects when
// there are none) the requester may not read, "" when it may read them
// all.
func (r *apiReq) deniedFilter(st *stream, filters ...string) (string, bool) {
	if r.perms == nil {
		return "", false
	}
	any := false
	for _, f := range filters {
		if f == "" {
			continue
		}
		any = true
		if !r.mayRead(f) {
			return f, true
		}
	}
	if any {
		return "", false
	}
	subjects := st.Config().Subjects
	if len(subjects) == 0 {
		subjects = []string{st.name}
	}
	for _, f := range subjects {
		if !r.mayRead(f) {
			return f, true
		}
	}
	return "", false
}
