package jetstream

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bargemq/barge/codec/jsapi"
)

// Error texts that reach clients.
//
// Store and file-system errors carry the server's paths ("mkdir
// /var/lib/barge/jetstream/S/consumers/C: not a directory"). Clients get
// nats-server's error with a description that names no path: the
// operation, the last element of a path and the system's reason (a full
// disk is nats-server's 10047, "insufficient storage resources
// available"); the whole error goes to the server's log with the stream's
// name. respondErr and PubAck errors scrub descriptions once more, so a
// path that slipped through never leaves the server.

// internalErr logs err, from what on stream, and returns the error code
// answers with a path-free description (10047 for a full disk).
func (e *Engine) internalErr(code jsapi.ErrCode, stream, what string, err error) *jsapi.APIError {
	e.log.Error("jetstream: "+what+" failed", "stream", stream, "err", err)
	if noSpace(err) {
		return jsapi.NewAPIError(jsapi.ErrCodeStorageResourcesExceeded)
	}
	return jsapi.NewAPIError(code, e.publicText(err.Error()))
}

// noSpace reports a full disk or exhausted quota.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), "no space left on device")
}

// publicText returns s with every file-system path cut to its last
// element: the store directory's prefix first (it may contain spaces),
// then each word that is a path (isPath).
func (e *Engine) publicText(s string) string {
	if !strings.ContainsRune(s, '/') {
		return s
	}
	if dir := e.o.StoreDir; dir != "" {
		for _, root := range []string{filepath.Clean(dir), absPath(dir)} {
			if root != "" && root != "/" && root != "." {
				s = strings.ReplaceAll(s, root+"/", "")
			}
		}
	}
	words := strings.Split(s, " ")
	for i, w := range words {
		start := strings.IndexFunc(w, func(r rune) bool { return !strings.ContainsRune(`"'(`, r) })
		if start < 0 {
			continue
		}
		end := strings.LastIndexFunc(w, func(r rune) bool { return !strings.ContainsRune(`"'):,;`, r) }) + 1
		if end <= start {
			continue
		}
		p := w[start:end]
		if len(p) < 2 || !isPath(p) {
			continue
		}
		words[i] = w[:start] + filepath.Base(p) + w[end:]
	}
	return strings.Join(words, " ")
}

// isPath reports whether the word w names a file: absolute, explicitly
// relative, or under the store directory once its prefix is cut
// ("jetstream/…"). Words such as "input/output" are not paths.
func isPath(w string) bool {
	for _, p := range []string{"/", "./", "../", "jetstream/", "staging/", "raft/"} {
		if strings.HasPrefix(w, p) {
			return true
		}
	}
	return false
}

// absPath is dir made absolute, or "" when it cannot be.
func absPath(dir string) string {
	a, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	return a
}

// publicErr returns apiErr, or a copy whose description names no path.
func (e *Engine) publicErr(apiErr *jsapi.APIError) *jsapi.APIError {
	if apiErr == nil || !strings.ContainsRune(apiErr.Description, '/') {
		return apiErr
	}
	c := *apiErr
	c.Description = e.publicText(c.Description)
	return &c
}
