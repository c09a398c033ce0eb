package codec

import "strconv"

// Fixed server-to-client lines.
const (
	PingLine = "PING\r\n"
	PongLine = "PONG\r\n"
	OKLine   = "+OK\r\n"
)

// AppendMsg appends the control line of a message delivery,
// "MSG <subject> <sid> [reply] <size>\r\n", to dst and returns the extended
// slice; the reply field is left out when reply is empty. size is the
// payload length that the caller writes next, followed by CRLF. Arguments
// are written as is (not validated). It allocates only when dst lacks
// capacity.
func AppendMsg(dst, subject, sid, reply []byte, size int) []byte {
	dst = append(dst, "MSG "...)
	dst = appendSubjectSid(dst, subject, sid, reply)
	dst = strconv.AppendInt(dst, int64(size), 10)
	return append(dst, "\r\n"...)
}

// AppendHMsg appends the control line of a message delivery with headers,
// "HMSG <subject> <sid> [reply] <hdrLen> <total>\r\n", to dst and returns the
// extended slice; the reply field is left out when reply is empty. total
// counts the header block and the body; the caller writes both next,
// followed by CRLF. It allocates only when dst lacks capacity.
func AppendHMsg(dst, subject, sid, reply []byte, hdrLen, total int) []byte {
	dst = append(dst, "HMSG "...)
	dst = appendSubjectSid(dst, subject, sid, reply)
	dst = strconv.AppendInt(dst, int64(hdrLen), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(total), 10)
	return append(dst, "\r\n"...)
}

// appendSubjectSid appends "<subject> <sid> [reply] ".
func appendSubjectSid(dst, subject, sid, reply []byte) []byte {
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = append(dst, sid...)
	dst = append(dst, ' ')
	if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	return dst
}
