package jsapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeMsg is a message the fake server delivers: to every subscription of
// the connection that matches to, written with subject (to when empty).
type fakeMsg struct {
	to, subject, reply string
	hdr, data          []byte
}

// fakeHandler answers one published message; hdr and data are only valid
// during the call.
type fakeHandler func(subject, reply string, hdr, data []byte) []fakeMsg

// startFakeServer runs a minimal NATS server on 127.0.0.1 that speaks
// just enough of the client protocol for nats.go (INFO, CONNECT, PING,
// SUB, UNSUB, PUB, HPUB, MSG, HMSG) and hands every publish to h. It is a
// test seam for driving the real nats.go client against this package's
// encoders; it stops when the test ends.
func startFakeServer(t *testing.T, h fakeHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		mu struct {
			sync.Mutex
			conns []net.Conn // every accepted connection, closed at cleanup
		}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			mu.conns = append(mu.conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveFake(c, h)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range mu.conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "nats://" + ln.Addr().String()
}

func serveFake(c net.Conn, h fakeHandler) {
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	w.WriteString(`INFO {"server_id":"FAKE","server_name":"fake","version":"2.11.0","proto":1,` +
		`"headers":true,"max_payload":1048576,"jetstream":true}` + "\r\n")
	w.Flush()
	subs := map[string]string{} // sid -> subject
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(strings.TrimRight(line, "\r\n"))
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "PING":
			w.WriteString("PONG\r\n")
		case "SUB":
			subs[f[len(f)-1]] = f[1]
		case "UNSUB":
			delete(subs, f[1])
		case "PUB", "HPUB":
			hpub := strings.ToUpper(f[0]) == "HPUB"
			args := f[1:]
			hl, tl := 0, 0
			if hpub {
				hl, _ = strconv.Atoi(args[len(args)-2])
				tl, _ = strconv.Atoi(args[len(args)-1])
				args = args[:len(args)-2]
			} else {
				tl, _ = strconv.Atoi(args[len(args)-1])
				args = args[:len(args)-1]
			}
			reply := ""
			if len(args) == 2 {
				reply = args[1]
			}
			buf := make([]byte, tl+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			for _, m := range h(args[0], reply, buf[:hl], buf[hl:tl]) {
				deliverFake(w, subs, m)
			}
		}
		if w.Flush() != nil {
			return
		}
	}
}

func deliverFake(w *bufio.Writer, subs map[string]string, m fakeMsg) {
	subject := m.subject
	if subject == "" {
		subject = m.to
	}
	reply := ""
	if m.reply != "" {
		reply = " " + m.reply
	}
	for sid, pattern := range subs {
		if !subjectMatches(pattern, m.to) {
			continue
		}
		if len(m.hdr) == 0 {
			fmt.Fprintf(w, "MSG %s %s%s %d\r\n", subject, sid, reply, len(m.data))
		} else {
			fmt.Fprintf(w, "HMSG %s %s%s %d %d\r\n", subject, sid, reply, len(m.hdr), len(m.hdr)+len(m.data))
			w.Write(m.hdr)
		}
		w.Write(m.data)
		w.WriteString("\r\n")
	}
}

// subjectMatches reports whether subject matches pattern ('*' and '>').
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}
