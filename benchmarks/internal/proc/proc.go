// Package proc starts a broker (barge or natsd) as a child process and reads
// what the report needs about it from /proc: CPU seconds (utime+stime of all
// threads) and peak resident memory (VmHWM, resettable through clear_refs).
// Both servers go through this same code so their figures are comparable.
package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Spec says how to start one server process.
type Spec struct {
	Name     string   // "barge" or "nats-server", used in reports
	Bin      string   // path of the executable
	Args     []string // full argument list (ports and store dir included)
	Host     string   // client address, e.g. 127.0.0.1
	Port     int      // client port, polled until it accepts
	HTTPPort int      // monitoring port (/varz, /debug/pprof); 0 if none
	LogPath  string   // stdout+stderr of the process go here; "" discards them
}

// Server is a running child process. Its methods are safe to call from one
// goroutine at a time; Stop may be called more than once.
type Server struct {
	spec Spec
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has been reaped
	err  error         // Wait's result, valid once done is closed
}

// Start launches spec.Bin and returns once spec.Port accepts a TCP connection.
// It returns an error (after killing the child) if the process exits first or
// the port is not open within the timeout.
func Start(ctx context.Context, spec Spec, timeout time.Duration) (*Server, error) {
	cmd := exec.Command(spec.Bin, spec.Args...)
	s := &Server{spec: spec, cmd: cmd, done: make(chan struct{})}
	if spec.LogPath != "" {
		f, err := os.Create(spec.LogPath)
		if err != nil {
			return nil, err
		}
		s.log = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		s.closeLog()
		return nil, fmt.Errorf("proc: start %s: %w", spec.Name, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	addr := net.JoinHostPort(spec.Host, strconv.Itoa(spec.Port))
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			s.closeLog()
			return nil, fmt.Errorf("proc: %s exited before listening (%v); see %s", spec.Name, s.err, spec.LogPath)
		case <-ctx.Done():
			_ = s.Stop(time.Second)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Stop(time.Second)
			return nil, fmt.Errorf("proc: %s not listening on %s after %v", spec.Name, addr, timeout)
		}
	}
}

// Spec returns the spec the server was started with.
func (s *Server) Spec() Spec { return s.spec }

// Pid returns the child's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process has ended (crashed, or stopped).
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// CPUSeconds returns user+system CPU time consumed so far by all the
// process's threads.
func (s *Server) CPUSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.Pid()))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU extracts utime+stime (fields 14 and 15) from a /proc/<pid>/stat
// line; the command name in parentheses may itself hold spaces.
func parseStatCPU(line string) (float64, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, errors.New("proc: malformed stat")
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("proc: short stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("proc: bad utime/stime")
	}
	return float64(ut+st) / clockTicks, nil
}

// PeakRSS returns VmHWM in bytes: the largest resident set since start or
// since the last ResetPeakRSS.
func (s *Server) PeakRSS() (int64, error) { return s.statusKB("VmHWM:") }

// RSS returns the current resident set (VmRSS) in bytes.
func (s *Server) RSS() (int64, error) { return s.statusKB("VmRSS:") }

func (s *Server) statusKB(key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Pid()))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(string(b), key)
}

func parseStatusKB(status, key string) (int64, error) {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, key) {
			f := strings.Fields(l[len(key):])
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("proc: %s not in status", key)
}

// ResetPeakRSS sets VmHWM back to the current RSS (writes 5 to clear_refs), so
// the next PeakRSS covers one measurement only. Kernels or sandboxes that
// refuse it return an error and PeakRSS then covers the process's life.
func (s *Server) ResetPeakRSS() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.Pid()), []byte("5"), 0)
}

// Varz fetches the /varz monitoring document, or returns an error when the
// server has no monitoring port or does not answer.
func (s *Server) Varz(ctx context.Context) (map[string]any, error) {
	if s.spec.HTTPPort == 0 {
		return nil, errors.New("proc: no monitoring port")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/varz", net.JoinHostPort(s.spec.Host, strconv.Itoa(s.spec.HTTPPort)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("proc: /varz: %s", resp.Status)
	}
	var v map[string]any
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// Stop sends SIGTERM, waits up to grace for the process to exit, then kills
// it. It returns the process's exit error only when it had to be killed.
func (s *Server) Stop(grace time.Duration) error {
	defer s.closeLog()
	if s.Exited() {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(grace):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return fmt.Errorf("proc: %s killed after %v without exiting", s.spec.Name, grace)
}

func (s *Server) closeLog() {
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

// FreePort asks the kernel for an unused TCP port on host.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
