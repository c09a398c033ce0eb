// Package subject is NATS subject syntax and matching, shared by the
// protocol (codec, broker), the JetStream layer and the stream log: valid
// publish and subscribe subjects, token iteration, filter matching, overlap
// and subset tests, and FilterTree, a set of filters indexed by token for
// overlap queries. It imports nothing of barge's, so the log can use it
// without depending on wire code.
//
// Two forms exist for their callers' sake: the validation functions take
// []byte (the parser's view of a control line, no copy), the matching
// functions take strings (configurations and index keys). None of the
// functions allocates.
package subject
