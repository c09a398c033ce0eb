package jsapi

import (
	"errors"
	"strconv"
	"strings"
)

// APIError is the "error" object of an API response or a PubAck:
// {"code":404,"err_code":10059,"description":"stream not found"}.
// Code is an HTTP-like status; ErrCode identifies the error (see ErrCode);
// clients match on ErrCode, and some on Description.
type APIError struct {
	Code        int     `json:"code"`
	ErrCode     ErrCode `json:"err_code,omitempty"`
	Description string  `json:"description,omitempty"`
}

// Error returns "<description> (<err_code>)", as nats-server formats it.
func (e *APIError) Error() string {
	return e.Description + " (" + strconv.FormatUint(uint64(e.ErrCode), 10) + ")"
}

// AppendJSON appends e as a JSON object, byte for byte as json.Marshal
// writes it. It does not allocate beyond growing dst.
func (e *APIError) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"code":`...)
	dst = appendInt(dst, int64(e.Code))
	if e.ErrCode != 0 {
		dst = append(dst, `,"err_code":`...)
		dst = appendUint(dst, uint64(e.ErrCode))
	}
	if e.Description != "" {
		dst = append(dst, `,"description":`...)
		dst = appendJSONString(dst, e.Description)
	}
	return append(dst, '}')
}

// NewAPIError returns the error for code with nats-server's status and
// description. Each {placeholder} of the description (such as "{err}" in
// "invalid JSON: {err}") is replaced, in order, by the next of args; a
// placeholder without an arg is left as it is. An unknown code gives status
// 500 and description "unknown error". The result is a new value the caller
// owns.
func NewAPIError(code ErrCode, args ...string) *APIError {
	status, tmpl, ok := code.template()
	if !ok {
		return &APIError{Code: 500, ErrCode: code, Description: "unknown error"}
	}
	if len(args) == 0 || !strings.Contains(tmpl, "{") {
		return &APIError{Code: status, ErrCode: code, Description: tmpl}
	}
	var b strings.Builder
	rest := tmpl
	for _, a := range args {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(rest[:i])
		b.WriteString(a)
		rest = rest[i+j+1:]
	}
	b.WriteString(rest)
	return &APIError{Code: status, ErrCode: code, Description: b.String()}
}

// IsCode reports whether err is (or wraps) an *APIError with ErrCode c.
func IsCode(err error, c ErrCode) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.ErrCode == c
}

// AppendErrorResponse appends a complete API error reply,
// {"type":"<typ>","error":{...}}, byte for byte as json.Marshal of an
// APIResponse writes it. typ is one of the Type... constants (use
// TypeSystemResponse when no operation was recognised).
func AppendErrorResponse(dst []byte, typ string, e *APIError) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, typ)
	dst = append(dst, `,"error":`...)
	dst = e.AppendJSON(dst)
	return append(dst, '}')
}

// AppendPubAck appends the reply to a stored publish:
// {"stream":"<stream>","seq":<seq>[,"domain":"<domain>"][,"duplicate":true]},
// the same bytes as json.Marshal of the matching PubAck. It does not
// allocate beyond growing dst: it is meant for every publish.
func AppendPubAck(dst []byte, stream string, seq uint64, domain string, duplicate bool) []byte {
	dst = append(dst, `{"stream":`...)
	dst = appendJSONString(dst, stream)
	dst = append(dst, `,"seq":`...)
	dst = appendUint(dst, seq)
	if domain != "" {
		dst = append(dst, `,"domain":`...)
		dst = appendJSONString(dst, domain)
	}
	if duplicate {
		dst = append(dst, `,"duplicate":true`...)
	}
	return append(dst, '}')
}

// AppendPubAckError appends the reply to a refused publish, as
// nats-server sends it: {"error":{...},"stream":"<stream>","seq":0}.
func AppendPubAckError(dst []byte, stream string, e *APIError) []byte {
	dst = append(dst, `{"error":`...)
	dst = e.AppendJSON(dst)
	dst = append(dst, `,"stream":`...)
	dst = appendJSONString(dst, stream)
	return append(dst, `,"seq":0}`...)
}
