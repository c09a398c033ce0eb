package jsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// knownCodes lists every ErrCode the catalogue knows.
func knownCodes() []ErrCode {
	var out []ErrCode
	for c := ErrCode(10000); c < 10400; c++ {
		if c.Known() {
			out = append(out, c)
		}
	}
	return out
}

// serverErrorsFile finds nats-server's generated error table in the module
// cache, or "" when it was never downloaded.
func serverErrorsFile() string {
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			gopath = filepath.Join(home, "go")
		}
		cache = filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
	}
	p := filepath.Join(cache, "github.com", "nats-io", "nats-server", "v2@v2.15.2", "server", "jetstream_errors_generated.go")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// TestErrCodesMatchNATSServer checks every code of the catalogue against
// nats-server 2.15.2's own table (run `go mod download
// github.com/nats-io/nats-server/v2@v2.15.2` to enable it).
func TestErrCodesMatchNATSServer(t *testing.T) {
	p := serverErrorsFile()
	if p == "" {
		t.Skip("nats-server v2.15.2 sources not in the module cache")
	}
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\{Code: (\d+), ErrCode: (\d+), Description: ("(?:[^"\\]|\\.)*")\}`)
	type entry struct {
		status int
		desc   string
	}
	server := map[ErrCode]entry{}
	for _, m := range re.FindAllSubmatch(src, -1) {
		status, _ := strconv.Atoi(string(m[1]))
		code, _ := strconv.Atoi(string(m[2]))
		desc, err := strconv.Unquote(string(m[3]))
		if err != nil {
			t.Fatal(err)
		}
		server[ErrCode(code)] = entry{status, desc}
	}
	if len(server) < 200 {
		t.Fatalf("parsed only %d server errors", len(server))
	}
	codes := knownCodes()
	if len(codes) < 100 {
		t.Fatalf("catalogue has only %d codes", len(codes))
	}
	for _, c := range codes {
		want, ok := server[c]
		status, desc, _ := c.template()
		if !ok {
			t.Errorf("%d: not a nats-server error code", c)
			continue
		}
		if status != want.status || desc != want.desc {
			t.Errorf("%d: have %d %q, nats-server has %d %q", c, status, desc, want.status, want.desc)
		}
	}
}

func TestNewAPIError(t *testing.T) {
	cases := []struct {
		e    *APIError
		want string
	}{
		{NewAPIError(ErrCodeStreamNotFound), `{"code":404,"err_code":10059,"description":"stream not found"}`},
		{NewAPIError(ErrCodeInvalidJSON, "unexpected end"), `{"code":400,"err_code":10025,"description":"invalid JSON: unexpected end"}`},
		{NewAPIError(ErrCodeStreamStoreFailed, StoreMsgTooLarge), `{"code":503,"err_code":10077,"description":"message too large"}`},
		{NewAPIError(ErrCodeStreamWrongLastMsgID, "abc"), `{"code":400,"err_code":10070,"description":"wrong last msg ID: abc"}`},
		{NewAPIError(ErrCodeStreamInvalidConfig), `{"code":500,"err_code":10052,"description":"{err}"}`},
		{NewAPIError(ErrCodeStreamReplicasNotSupported), `{"code":500,"err_code":10074,"description":"replicas \u003e 1 not supported in non-clustered mode"}`},
		{NewAPIError(ErrCode(1)), `{"code":500,"err_code":1,"description":"unknown error"}`},
		{&APIError{Code: 400}, `{"code":400}`},
	}
	for _, c := range cases {
		got := string(c.e.AppendJSON(nil))
		if got != c.want {
			t.Errorf("got %s want %s", got, c.want)
		}
		if m := string(mustJSON(t, c.e)); m != got {
			t.Errorf("AppendJSON %s differs from json.Marshal %s", got, m)
		}
	}
	e := NewAPIError(ErrCodeConsumerNotFound)
	if e.Error() != "consumer not found (10014)" {
		t.Fatalf("Error() = %q", e.Error())
	}
	wrapped := fmt.Errorf("lookup: %w", e)
	if !IsCode(wrapped, ErrCodeConsumerNotFound) || IsCode(wrapped, ErrCodeStreamNotFound) || IsCode(errors.New("x"), 0) {
		t.Fatal("IsCode")
	}
	if ErrCodeStreamNotFound.Status() != 404 || ErrCode(3).Status() != 500 {
		t.Fatal("Status")
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"uote`, `back\slash`, "ctl\x00\x01\x1f\n\r\t\b\f", "<html>&amp;",
		"ünïcødé ✓", "bad\xffutf8\xc3", "line\u2028sep\u2029x", "emoji 😀",
	} {
		got := string(appendJSONString(nil, s))
		want := string(mustJSON(t, s))
		if got != want {
			t.Errorf("%q: got %s want %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"b<\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Skip()
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}

func TestAllocsPubAckAndErrors(t *testing.T) {
	buf := make([]byte, 0, 512)
	e := NewAPIError(ErrCodeStreamNotFound)
	n := testing.AllocsPerRun(100, func() {
		b := AppendPubAck(buf[:0], "ORDERS", 123456789, "hub", true)
		b = AppendPubAckError(b[:0], "ORDERS", e)
		_ = AppendErrorResponse(b[:0], TypeStreamInfoResponse, e)
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

func BenchmarkPubAck(b *testing.B) {
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	b.SetBytes(int64(len(AppendPubAck(nil, "ORDERS", 123456789, "", false))))
	for b.Loop() {
		buf = AppendPubAck(buf[:0], "ORDERS", 123456789, "", false)
	}
}
