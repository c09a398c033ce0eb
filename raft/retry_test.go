package raft

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lni/dragonboat/v3"
)

// The retry loop rides out ErrSystemBusy and friends with growing backoff,
// stops at the first error retrying cannot fix, and gives up when its
// context ends; a synctest bubble makes the backoff instant.
func TestRetryRidesOutBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{ProposalTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		calls := 0
		start := time.Now()
		err := retry(context.Background(), cfg, func(context.Context) error {
			calls++
			if calls <= 4 {
				return dragonboat.ErrSystemBusy
			}
			return nil
		})
		if err != nil || calls != 5 {
			t.Fatalf("err %v after %d calls", err, calls)
		}
		if waited := time.Since(start); waited != 5*time.Millisecond+10*time.Millisecond+20*time.Millisecond+40*time.Millisecond {
			t.Fatalf("backoff total %v", waited)
		}

		fatal := errors.New("rejected")
		calls = 0
		if err := retry(context.Background(), cfg, func(context.Context) error { calls++; return fatal }); !errors.Is(err, fatal) || calls != 1 {
			t.Fatalf("non-retryable error: %v after %d calls", err, calls)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err = retry(ctx, cfg, func(context.Context) error { return dragonboat.ErrSystemBusy })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("busy until the deadline: %v", err)
		}
	})
}
