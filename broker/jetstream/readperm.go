package jetstream

import (
	"strconv"

	"github.com/bargemq/barge/codec/jsapi"
)

// Read permissions (barge's own; nats-server checks none of this): a user
// with subscribe permissions reads stored messages only where it may
// subscribe. The requester's permissions come with the request
// (broker.InternalMsg.Perms, apiReq.perms; nil restricts nothing, as for
// the server's own requests and requests forwarded by another member,
// which checked them). A consumer create needs MayRead on each of its
// filters (the stream's subjects when it has none), a pull request on the
// consumer's, and a message get or direct get on the subject of the
// message found. A refusal is a 403 whose description is the subscribe
// violation's wording, with no err_code (nats-server has none for it).

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
