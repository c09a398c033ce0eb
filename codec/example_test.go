package codec_test

import (
	"fmt"

	"github.com/bargemq/barge/codec"
)

// printer prints what the parser reports; a real Handler would route it.
type printer struct{}

func (printer) Connect(o []byte) error { fmt.Printf("CONNECT %s\n", o); return nil }
func (printer) Ping() error            { fmt.Println("PING"); return nil }
func (printer) Pong() error            { fmt.Println("PONG"); return nil }
func (printer) Sub(s, q, sid []byte) error {
	fmt.Printf("SUB %s queue=%q sid=%s\n", s, q, sid)
	return nil
}
func (printer) Unsub(sid []byte, max int64) error { fmt.Printf("UNSUB %s %d\n", sid, max); return nil }
func (printer) PubStart(s, r []byte, hdrLen, size int) error {
	fmt.Printf("PUB %s hdr=%d size=%d\n", s, hdrLen, size)
	return nil
}
func (printer) PubHeaders(h []byte) error {
	v, _ := codec.HeaderValue(h, "nats-msg-id")
	fmt.Printf("headers, msg id %s\n", v)
	return nil
}
func (printer) PubPayload(p []byte) error { fmt.Printf("piece %q\n", p); return nil }
func (printer) PubEnd() error             { fmt.Println("end"); return nil }

func ExampleParser() {
	p := codec.NewParser(printer{}, codec.ParserOptions{})
	// Two reads, split in the middle of a header block and of a body.
	reads := []string{
		"CONNECT {}\r\nHPUB orders 28 33\r\nNATS/1.0\r\nNats-Msg",
		"-Id: 7\r\n\r\nhel",
		"lo\r\nPING\r\n",
	}
	for _, r := range reads {
		if err := p.Parse([]byte(r)); err != nil {
			fmt.Println(string(codec.AppendErr(nil, err.Error())))
			return
		}
	}
	// Output:
	// CONNECT {}
	// PUB orders hdr=28 size=33
	// headers, msg id 7
	// piece "hel"
	// piece "lo"
	// end
	// PING
}
