package app

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
)

// logSink is the logger's destination, stderr or a log file, which a
// reload (log_file) or ReopenLog swaps under the running logger.
type logSink struct {
	mu   sync.Mutex // guards the fields and serializes writes
	w    io.Writer  // where log lines go: os.Stderr or file
	file *os.File   // the open log file; nil for stderr
	path string     // file's path; "" for stderr
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// open points the sink at path ("" is stderr), opened for appending, and
// closes the file it wrote to before. On error nothing changes.
func (l *logSink) open(path string) error {
	var f *os.File
	var w io.Writer = os.Stderr
	if path != "" {
		var err error
		f, err = os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		w = f
	}
	l.mu.Lock()
	old := l.file
	l.w, l.file, l.path = w, f, path
	l.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

// reopen opens the log file again under the same path (after logrotate
// moved it away); a sink on stderr is left as it is.
func (l *logSink) reopen() error {
	l.mu.Lock()
	path := l.path
	l.mu.Unlock()
	if path == "" {
		return nil
	}
	return l.open(path)
}

// close closes the log file; later lines are dropped, as they were when
// written to a closed file. A sink on stderr stays on it.
func (l *logSink) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		_ = l.file.Close()
		l.w, l.file = io.Discard, nil
	}
}

// logLevel is the level -D (debug) and -V (trace) ask for.
func logLevel(debug, trace bool) slog.Level {
	switch {
	case trace:
		return LevelTrace
	case debug:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func (a *App) openLog() error {
	a.logOut = &logSink{w: os.Stderr}
	if err := a.logOut.open(a.cfg.LogFile); err != nil {
		return err
	}
	a.level = new(slog.LevelVar)
	a.level.Set(logLevel(a.cfg.Debug, a.cfg.Trace))
	a.log = slog.New(slog.NewTextHandler(a.logOut, &slog.HandlerOptions{Level: a.level}))
	return nil
}

func (a *App) closeLog() { a.logOut.close() }

// ReopenLog opens the log file again under its name, so that a log rotated
// away (renamed by logrotate) is followed by a new file; SIGUSR1 calls it,
// as in nats-server. Without a log file it does nothing.
func (a *App) ReopenLog() error {
	a.reload.Lock()
	defer a.reload.Unlock()
	if a.reload.stopped {
		return errStopped
	}
	if err := a.logOut.reopen(); err != nil {
		return err
	}
	a.log.Info("log file reopened", "log_file", a.reload.cfg.LogFile)
	return nil
}

// writePidFile writes this process's id to path, as nats-server's -P does.
func writePidFile(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// removePidFile removes the pid file at path if it still names this
// process (another process may have taken the path since).
func removePidFile(path string) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err == nil && string(bytes.TrimSpace(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(path)
	}
}
