package netpoll

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Backoff of the accept loop after an accept error, as nats-server's
// ACCEPT_MIN_SLEEP / ACCEPT_MAX_SLEEP: it doubles from the first to the
// second while errors repeat and starts over after a success.
const (
	acceptMinSleep = 10 * time.Millisecond
	acceptMaxSleep = time.Second
)

// acceptLoop accepts connections until Shutdown closes the listener and
// enrolls each into gnet's event loops, where OnOpen takes over.
//
// An accept error never stops it, except one that says the listening socket
// itself is gone (Health then reports it). Running out of file descriptors
// (EMFILE, ENFILE) is handled without waiting: reserve, a descriptor held for
// the purpose, is closed so that the pending connection can be accepted and
// closed at once, then reopened. A client thus gets a prompt close instead of
// hanging in the backlog while descriptors are short, and is served again
// once some are free. Other errors are logged and retried after a backoff.
// The loop owns reserve.
func (s *Server) acceptLoop(reserve int) {
	defer close(s.acceptDone)
	defer func() {
		if reserve >= 0 {
			_ = unix.Close(reserve)
		}
	}()
	delay := acceptMinSleep
	shed := 0 // connections closed at once since descriptors ran out
	for {
		nc, err := s.ln.AcceptTCP()
		if err == nil {
			delay = acceptMinSleep
			if s.opts.TLS != nil {
				go s.serveTLS(nc)
				continue
			}
			// Enrolling duplicates the descriptor; it can run out too. nc
			// is closed either way: gnet serves the duplicate.
			if _, err := s.cli.EnrollContext(nc, nil); err != nil {
				if !fdExhausted(err) {
					s.log.Error("netpoll: cannot hand an accepted connection to the event loops",
						"remote", nc.RemoteAddr().String(), "err", err)
					continue
				}
				if shed == 0 {
					s.log.Error("netpoll: out of file descriptors: closing new connections at once until some are free",
						"addr", s.addr.String(), "err", err)
				}
				shed++
				continue
			}
			if shed > 0 {
				s.log.Info("netpoll: accepting connections again", "addr", s.addr.String(), "closed_meanwhile", shed)
				shed = 0
			}
			if reserve < 0 {
				reserve = newReserveFD()
			}
			continue
		}
		if s.shutting.Load() {
			return
		}
		if listenerGone(err) {
			s.log.Error("netpoll: listener failed, no longer accepting connections", "addr", s.addr.String(), "err", err)
			s.mu.Lock()
			s.mu.acceptErr = err
			s.mu.Unlock()
			return
		}
		if fdExhausted(err) && reserve >= 0 {
			if shed == 0 {
				s.log.Error("netpoll: out of file descriptors: closing new connections at once until some are free",
					"addr", s.addr.String(), "err", err)
			}
			_ = unix.Close(reserve)
			if nc, err := s.ln.AcceptTCP(); err == nil {
				_ = nc.Close()
				shed++
			}
			if reserve = newReserveFD(); reserve >= 0 {
				continue
			}
			// Someone else took the descriptor: wait like for any error.
		}
		s.log.Error("netpoll: accept failed, retrying", "addr", s.addr.String(), "err", err, "retry_in", delay)
		select {
		case <-time.After(delay):
		case <-s.quit:
			return
		}
		delay = min(2*delay, acceptMaxSleep)
		if reserve < 0 {
			reserve = newReserveFD()
		}
	}
}

// newReserveFD opens the descriptor acceptLoop holds in reserve, or returns
// -1 if none is free.
func newReserveFD() int {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// fdExhausted reports an error of a process or system out of file
// descriptors.
func fdExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// listenerGone reports an accept error that no retry can cure: the listening
// socket was closed (not by Shutdown) or is no longer listening.
func listenerGone(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EBADF) ||
		errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSOCK) ||
		errors.Is(err, syscall.EOPNOTSUPP)
}
