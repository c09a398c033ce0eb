package log

import "errors"

// Sentinel errors. Compare with errors.Is; methods wrap them with context.
var (
	// ErrNotFound: the sequence is outside [FirstSeq, LastSeq], or no message
	// matches a subject filter.
	ErrNotFound = errors.New("log: message not found")
	// ErrDeleted: the sequence is inside the log's range but its message was
	// deleted, purged or dropped by a limit.
	ErrDeleted = errors.New("log: message deleted")
	// ErrCorrupt: a record failed its checksum. The message is never returned
	// as data; State().Lost lists the sequences found damaged at recovery or
	// by the background verification of sealed segments (verify.go).
	ErrCorrupt = errors.New("log: corrupt record")
	// ErrClosed: the log (or the appender) is closed.
	ErrClosed = errors.New("log: closed")
	// ErrMaxMsgs: DiscardNew and the log holds Config.MaxMsgs messages.
	ErrMaxMsgs = errors.New("log: maximum messages exceeded")
	// ErrMaxBytes: DiscardNew and the message would take the log past
	// Config.MaxBytes, or the message alone is larger than MaxBytes.
	ErrMaxBytes = errors.New("log: maximum bytes exceeded")
	// ErrSize: an appender received more or fewer payload bytes than declared.
	ErrSize = errors.New("log: payload size mismatch")
	// ErrAborted: the appender was aborted; nothing of it is visible.
	ErrAborted = errors.New("log: append aborted")
	// ErrConfig: an invalid configuration or an unsupported change.
	ErrConfig = errors.New("log: invalid configuration")
	// ErrBadRequest: a malformed purge request or argument.
	ErrBadRequest = errors.New("log: bad request")
	// ErrNoSpace wraps a write or sync that failed because the file system
	// is full (ENOSPC, EDQUOT). The log rolls back to its last durable point
	// and takes writes again after a short backoff (writefail.go).
	ErrNoSpace = errors.New("log: no space left on device")
	// ErrIO wraps any other write or sync failure; handled like ErrNoSpace.
	ErrIO = errors.New("log: I/O error")
)
