package jetstream

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/bargemq/barge/codec/jsapi"
)

// TestPublicText: paths in error texts are cut to their last element,
// whatever quotes or punctuation surround them and even when the store
// directory holds spaces; a full disk is 10047.
func TestPublicText(t *testing.T) {
	e := &Engine{o: Options{StoreDir: "/var/lib/my barge"}}
	cases := []struct{ in, want string }{
		{"mkdir /var/lib/my barge/jetstream/S/consumers/C: not a directory", "mkdir C: not a directory"},
		{`open "/tmp/x/jetstream/S/meta.json.tmp": permission denied`, `open "meta.json.tmp": permission denied`},
		{"log: read seq 5 payload: read /srv/data/jetstream/S/msgs/00000000000000000001.seg: input/output error",
			"log: read seq 5 payload: read 00000000000000000001.seg: input/output error"},
		{"rename jetstream/S/a (jetstream/S/b)", "rename a (b)"},
		{"stream name is required and can not contain '.', '*', '>', '\\', '/'", "stream name is required and can not contain '.', '*', '>', '\\', '/'"},
		{"no paths here", "no paths here"},
	}
	for _, c := range cases {
		if got := e.publicText(c.in); got != c.want {
			t.Fatalf("publicText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	full := &fs.PathError{Op: "write", Path: "/var/lib/my barge/jetstream/S/msgs/1.seg", Err: syscall.ENOSPC}
	e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if ae := e.internalErr(jsapi.ErrCodeStreamStoreFailed, "S", "store", fmt.Errorf("log: append: %w", full)); ae.ErrCode != jsapi.ErrCodeStorageResourcesExceeded || strings.Contains(ae.Description, "/") {
		t.Fatalf("full disk: %+v", ae)
	}
	other := &fs.PathError{Op: "mkdir", Path: "/var/lib/my barge/jetstream/S", Err: syscall.ENOTDIR}
	if ae := e.internalErr(jsapi.ErrCodeStreamCreate, "S", "create", errors.Join(other)); ae.ErrCode != jsapi.ErrCodeStreamCreate || ae.Description != "mkdir S: not a directory" {
		t.Fatalf("not a directory: %+v", ae)
	}
}
