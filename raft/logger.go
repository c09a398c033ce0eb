package raft

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	dlog "github.com/lni/dragonboat/v3/logger"
)

// InstallLogger routes Dragonboat's logging into l, each record tagged with
// the Dragonboat package that wrote it ("pkg"). Dragonboat keeps its logger
// factory in process-wide state that can be set only once, so a process
// (cmd/barge's main, a test binary's TestMain) calls this once before the
// first NodeHost; later calls return an error and change nothing. Without
// it Dragonboat prints to stderr. level is the least level passed on
// (Dragonboat is chatty at Info).
func InstallLogger(l *slog.Logger, level slog.Level) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft: dragonboat logger already set: %v", r)
		}
	}()
	dlog.SetLoggerFactory(func(pkg string) dlog.ILogger {
		a := &slogAdapter{l: l.With("pkg", pkg)}
		a.level.Store(int64(level))
		return a
	})
	return nil
}

// slogAdapter is a Dragonboat ILogger over slog.
type slogAdapter struct {
	l     *slog.Logger
	level atomic.Int64 // least slog.Level logged
}

// SetLevel maps Dragonboat's level onto slog's; it only ever raises the
// level set at install time.
func (a *slogAdapter) SetLevel(lv dlog.LogLevel) {
	var s slog.Level
	switch lv {
	case dlog.DEBUG:
		s = slog.LevelDebug
	case dlog.INFO:
		s = slog.LevelInfo
	case dlog.WARNING:
		s = slog.LevelWarn
	default:
		s = slog.LevelError
	}
	if int64(s) > a.level.Load() {
		a.level.Store(int64(s))
	}
}

func (a *slogAdapter) log(lv slog.Level, format string, args []any) {
	if int64(lv) < a.level.Load() || !a.l.Enabled(context.Background(), lv) {
		return
	}
	a.l.Log(context.Background(), lv, fmt.Sprintf(format, args...))
}

func (a *slogAdapter) Debugf(format string, args ...any)   { a.log(slog.LevelDebug, format, args) }
func (a *slogAdapter) Infof(format string, args ...any)    { a.log(slog.LevelInfo, format, args) }
func (a *slogAdapter) Warningf(format string, args ...any) { a.log(slog.LevelWarn, format, args) }
func (a *slogAdapter) Errorf(format string, args ...any)   { a.log(slog.LevelError, format, args) }

// Panicf logs and panics, as Dragonboat expects.
func (a *slogAdapter) Panicf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.l.Error(msg)
	panic(msg)
}
