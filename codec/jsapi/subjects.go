package jsapi

import "bytes"

// API subjects. A client in a JetStream domain sends to
// "$JS.<domain>.API.<rest>" instead of "$JS.API.<rest>"; ParseAPISubject
// accepts both.
const (
	// APIPrefix starts every API subject.
	APIPrefix = "$JS.API."
	// APIWildcard is the subscription that covers the whole API.
	APIWildcard = "$JS.API.>"

	SubjAccountInfo = "$JS.API.INFO"
	SubjStreamNames = "$JS.API.STREAM.NAMES"
	SubjStreamList  = "$JS.API.STREAM.LIST"

	// Prefixes followed by "<stream>".
	PreStreamCreate   = "$JS.API.STREAM.CREATE."
	PreStreamUpdate   = "$JS.API.STREAM.UPDATE."
	PreStreamInfo     = "$JS.API.STREAM.INFO."
	PreStreamDelete   = "$JS.API.STREAM.DELETE."
	PreStreamPurge    = "$JS.API.STREAM.PURGE."
	PreStreamSnapshot = "$JS.API.STREAM.SNAPSHOT."
	PreStreamRestore  = "$JS.API.STREAM.RESTORE."
	PreMsgGet         = "$JS.API.STREAM.MSG.GET."
	PreMsgDelete      = "$JS.API.STREAM.MSG.DELETE."
	PreConsumerNames  = "$JS.API.CONSUMER.NAMES."
	PreConsumerList   = "$JS.API.CONSUMER.LIST."
	// PreDirectGet is followed by "<stream>" or "<stream>.<subject>".
	PreDirectGet = "$JS.API.DIRECT.GET."
	// PreConsumerCreate is followed by "<stream>", "<stream>.<consumer>" or
	// "<stream>.<consumer>.<filter subject>".
	PreConsumerCreate = "$JS.API.CONSUMER.CREATE."

	// Prefixes followed by "<stream>.<consumer>".
	PreDurableCreate  = "$JS.API.CONSUMER.DURABLE.CREATE."
	PreConsumerInfo   = "$JS.API.CONSUMER.INFO."
	PreConsumerDelete = "$JS.API.CONSUMER.DELETE."
	PreConsumerPause  = "$JS.API.CONSUMER.PAUSE."
	PreConsumerNext   = "$JS.API.CONSUMER.MSG.NEXT."
	PreConsumerUnpin  = "$JS.API.CONSUMER.UNPIN."
	PreConsumerReset  = "$JS.API.CONSUMER.RESET."
)

// Op is a JetStream API operation recognised by ParseAPISubject.
type Op uint8

// The API operations, named after their subjects.
const (
	OpUnknown              Op = iota
	OpAccountInfo             // $JS.API.INFO
	OpStreamCreate            // STREAM.CREATE.<stream>
	OpStreamUpdate            // STREAM.UPDATE.<stream>
	OpStreamNames             // STREAM.NAMES
	OpStreamList              // STREAM.LIST
	OpStreamInfo              // STREAM.INFO.<stream>
	OpStreamDelete            // STREAM.DELETE.<stream>
	OpStreamPurge             // STREAM.PURGE.<stream>
	OpStreamSnapshot          // STREAM.SNAPSHOT.<stream>
	OpStreamRestore           // STREAM.RESTORE.<stream>
	OpMsgGet                  // STREAM.MSG.GET.<stream>
	OpMsgDelete               // STREAM.MSG.DELETE.<stream>
	OpDirectGet               // DIRECT.GET.<stream> (JSON body)
	OpDirectGetLast           // DIRECT.GET.<stream>.<subject> (empty body)
	OpConsumerCreate          // CONSUMER.CREATE.<stream>[.<consumer>[.<filter>]]
	OpDurableCreate           // CONSUMER.DURABLE.CREATE.<stream>.<consumer>
	OpConsumerNames           // CONSUMER.NAMES.<stream>
	OpConsumerList            // CONSUMER.LIST.<stream>
	OpConsumerInfo            // CONSUMER.INFO.<stream>.<consumer>
	OpConsumerDelete          // CONSUMER.DELETE.<stream>.<consumer>
	OpConsumerPause           // CONSUMER.PAUSE.<stream>.<consumer>
	OpConsumerNext            // CONSUMER.MSG.NEXT.<stream>.<consumer>
	OpConsumerUnpin           // CONSUMER.UNPIN.<stream>.<consumer>
	OpConsumerReset           // CONSUMER.RESET.<stream>.<consumer>
	OpStreamLeaderStepDown    // STREAM.LEADER.STEPDOWN.<stream>
	OpConsumerLeaderStepDn    // CONSUMER.LEADER.STEPDOWN.<stream>.<consumer>
	OpMetaLeaderStepDown      // META.LEADER.STEPDOWN
	opCount
)

// String returns the subject form of op, such as "STREAM.CREATE".
func (op Op) String() string {
	switch op {
	case OpAccountInfo:
		return "INFO"
	case OpStreamCreate:
		return "STREAM.CREATE"
	case OpStreamUpdate:
		return "STREAM.UPDATE"
	case OpStreamNames:
		return "STREAM.NAMES"
	case OpStreamList:
		return "STREAM.LIST"
	case OpStreamInfo:
		return "STREAM.INFO"
	case OpStreamDelete:
		return "STREAM.DELETE"
	case OpStreamPurge:
		return "STREAM.PURGE"
	case OpStreamSnapshot:
		return "STREAM.SNAPSHOT"
	case OpStreamRestore:
		return "STREAM.RESTORE"
	case OpMsgGet:
		return "STREAM.MSG.GET"
	case OpMsgDelete:
		return "STREAM.MSG.DELETE"
	case OpDirectGet, OpDirectGetLast:
		return "DIRECT.GET"
	case OpConsumerCreate:
		return "CONSUMER.CREATE"
	case OpDurableCreate:
		return "CONSUMER.DURABLE.CREATE"
	case OpConsumerNames:
		return "CONSUMER.NAMES"
	case OpConsumerList:
		return "CONSUMER.LIST"
	case OpConsumerInfo:
		return "CONSUMER.INFO"
	case OpConsumerDelete:
		return "CONSUMER.DELETE"
	case OpConsumerPause:
		return "CONSUMER.PAUSE"
	case OpConsumerNext:
		return "CONSUMER.MSG.NEXT"
	case OpConsumerUnpin:
		return "CONSUMER.UNPIN"
	case OpConsumerReset:
		return "CONSUMER.RESET"
	case OpStreamLeaderStepDown:
		return "STREAM.LEADER.STEPDOWN"
	case OpConsumerLeaderStepDn:
		return "CONSUMER.LEADER.STEPDOWN"
	case OpMetaLeaderStepDown:
		return "META.LEADER.STEPDOWN"
	}
	return "UNKNOWN"
}

// ResponseType returns the "type" of op's response, or
// TypeSystemResponse for OpUnknown and for operations without their own
// (CONSUMER.MSG.NEXT and DIRECT.GET answer with messages, not JSON).
func (op Op) ResponseType() string {
	switch op {
	case OpAccountInfo:
		return TypeAccountInfoResponse
	case OpStreamCreate:
		return TypeStreamCreateResponse
	case OpStreamUpdate:
		return TypeStreamUpdateResponse
	case OpStreamNames:
		return TypeStreamNamesResponse
	case OpStreamList:
		return TypeStreamListResponse
	case OpStreamInfo:
		return TypeStreamInfoResponse
	case OpStreamDelete:
		return TypeStreamDeleteResponse
	case OpStreamPurge:
		return TypeStreamPurgeResponse
	case OpStreamSnapshot:
		return TypeStreamSnapshotResponse
	case OpStreamRestore:
		return TypeStreamRestoreResponse
	case OpMsgGet:
		return TypeMsgGetResponse
	case OpMsgDelete:
		return TypeMsgDeleteResponse
	case OpConsumerCreate, OpDurableCreate:
		return TypeConsumerCreateResponse
	case OpConsumerNames:
		return TypeConsumerNamesResponse
	case OpConsumerList:
		return TypeConsumerListResponse
	case OpConsumerInfo:
		return TypeConsumerInfoResponse
	case OpConsumerDelete:
		return TypeConsumerDeleteResponse
	case OpConsumerPause:
		return TypeConsumerPauseResponse
	case OpConsumerUnpin:
		return TypeConsumerUnpinResponse
	case OpConsumerReset:
		return TypeConsumerResetResponse
	case OpStreamLeaderStepDown:
		return TypeStreamLeaderStepDownResponse
	case OpConsumerLeaderStepDn:
		return TypeConsumerLeaderStepDownResponse
	case OpMetaLeaderStepDown:
		return TypeMetaLeaderStepDownResponse
	}
	return TypeSystemResponse
}

// APISubject is a parsed API subject. Every slice aliases the subject given
// to ParseAPISubject and is valid only as long as it is.
type APISubject struct {
	Op Op
	// Domain is the <domain> of "$JS.<domain>.API...", nil for "$JS.API...".
	Domain []byte
	// Stream is the stream name token, nil where the operation has none.
	Stream []byte
	// Consumer is the consumer name token, nil where absent.
	Consumer []byte
	// Subject is the trailing subject (one or more tokens) of
	// CONSUMER.CREATE.<stream>.<consumer>.<filter> and of
	// DIRECT.GET.<stream>.<subject>; nil otherwise.
	Subject []byte
}

// ParseAPISubject recognises a JetStream API subject and splits out its
// arguments, without allocating. ok is false, and the result zero, when the
// subject is not one of the operations of Op, has an empty token, or has
// the wrong number of name tokens; nats-server answers such a request with
// a TypeSystemResponse "bad request" (ErrCodeBadRequest) or not at all.
// Names are single tokens here; whether they are valid names (length,
// characters) is for the caller to check.
func ParseAPISubject(subject []byte) (s APISubject, ok bool) {
	rest, domain, ok := cutAPIPrefix(subject)
	if !ok {
		return APISubject{}, false
	}
	s.Domain = domain
	head, tail := cutToken(rest)
	switch string(head) {
	case "INFO":
		if tail == nil {
			s.Op = OpAccountInfo
			return s, true
		}
	case "STREAM":
		ok = s.parseStream(tail)
	case "CONSUMER":
		ok = s.parseConsumer(tail)
	case "DIRECT":
		op, args := cutToken(tail)
		if string(op) == "GET" {
			stream, subj := cutToken(args)
			if validToken(stream) {
				s.Stream = stream
				s.Op = OpDirectGet
				if subj != nil {
					if !validSubject(subj) {
						return APISubject{}, false
					}
					s.Op, s.Subject = OpDirectGetLast, subj
				}
				return s, true
			}
		}
	case "META":
		if string(tail) == "LEADER.STEPDOWN" {
			s.Op = OpMetaLeaderStepDown
			return s, true
		}
	}
	if !ok || s.Op == OpUnknown {
		return APISubject{}, false
	}
	return s, true
}

// parseStream handles the tokens after "STREAM.".
func (s *APISubject) parseStream(rest []byte) bool {
	op, args := cutToken(rest)
	switch string(op) {
	case "NAMES":
		s.Op = OpStreamNames
		return args == nil
	case "LIST":
		s.Op = OpStreamList
		return args == nil
	case "CREATE":
		s.Op = OpStreamCreate
	case "UPDATE":
		s.Op = OpStreamUpdate
	case "INFO":
		s.Op = OpStreamInfo
	case "DELETE":
		s.Op = OpStreamDelete
	case "PURGE":
		s.Op = OpStreamPurge
	case "SNAPSHOT":
		s.Op = OpStreamSnapshot
	case "RESTORE":
		s.Op = OpStreamRestore
	case "MSG":
		sub, a := cutToken(args)
		switch string(sub) {
		case "GET":
			s.Op = OpMsgGet
		case "DELETE":
			s.Op = OpMsgDelete
		default:
			return false
		}
		args = a
	case "LEADER":
		sub, a := cutToken(args)
		if string(sub) != "STEPDOWN" {
			return false
		}
		s.Op, args = OpStreamLeaderStepDown, a
	default:
		return false
	}
	s.Stream = args
	return validToken(args)
}

// parseConsumer handles the tokens after "CONSUMER.".
func (s *APISubject) parseConsumer(rest []byte) bool {
	op, args := cutToken(rest)
	switch string(op) {
	case "CREATE":
		s.Op = OpConsumerCreate
		stream, more := cutToken(args)
		if !validToken(stream) {
			return false
		}
		s.Stream = stream
		if more == nil {
			return true
		}
		consumer, filter := cutToken(more)
		if !validToken(consumer) {
			return false
		}
		s.Consumer = consumer
		if filter != nil {
			if !validSubject(filter) {
				return false
			}
			s.Subject = filter
		}
		return true
	case "NAMES":
		s.Op, s.Stream = OpConsumerNames, args
		return validToken(args)
	case "LIST":
		s.Op, s.Stream = OpConsumerList, args
		return validToken(args)
	case "DURABLE":
		sub, a := cutToken(args)
		if string(sub) != "CREATE" {
			return false
		}
		s.Op, args = OpDurableCreate, a
	case "INFO":
		s.Op = OpConsumerInfo
	case "DELETE":
		s.Op = OpConsumerDelete
	case "PAUSE":
		s.Op = OpConsumerPause
	case "UNPIN":
		s.Op = OpConsumerUnpin
	case "RESET":
		s.Op = OpConsumerReset
	case "MSG":
		sub, a := cutToken(args)
		if string(sub) != "NEXT" {
			return false
		}
		s.Op, args = OpConsumerNext, a
	case "LEADER":
		sub, a := cutToken(args)
		if string(sub) != "STEPDOWN" {
			return false
		}
		s.Op, args = OpConsumerLeaderStepDn, a
	default:
		return false
	}
	stream, consumer := cutToken(args)
	s.Stream, s.Consumer = stream, consumer
	return validToken(stream) && validToken(consumer)
}

// cutAPIPrefix strips "$JS.API." or "$JS.<domain>.API." and returns the
// rest and the domain (nil without one).
func cutAPIPrefix(subject []byte) (rest, domain []byte, ok bool) {
	if !bytes.HasPrefix(subject, []byte("$JS.")) {
		return nil, nil, false
	}
	after := subject[4:]
	if bytes.HasPrefix(after, []byte("API.")) {
		return after[4:], nil, true
	}
	domain, after = cutToken(after)
	if !validToken(domain) || !bytes.HasPrefix(after, []byte("API.")) {
		return nil, nil, false
	}
	return after[4:], domain, true
}

// cutToken splits s at its first '.': the token before it and the rest
// after it. rest is nil when s has no '.'.
func cutToken(s []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, nil
}

// validToken reports whether t is a single non-empty token without
// wildcards or spaces.
func validToken(t []byte) bool {
	if len(t) == 0 {
		return false
	}
	for _, c := range t {
		switch c {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

// validSubject reports whether s is a dotted subject of non-empty tokens
// (wildcards allowed, as in a consumer filter).
func validSubject(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for len(s) > 0 {
		tok, rest := cutToken(s)
		if len(tok) == 0 {
			return false
		}
		for _, c := range tok {
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				return false
			}
		}
		if rest == nil {
			return true
		}
		if len(rest) == 0 {
			return false
		}
		s = rest
	}
	return true
}
