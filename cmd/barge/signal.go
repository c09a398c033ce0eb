package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/bargemq/barge/cmd/barge/app"
)

// signalCommands maps --signal's commands to the signals sent, as in
// nats-server. ldm (lame duck mode, SIGUSR2) is left out: barge has none,
// and SIGUSR2 would kill it.
var signalCommands = map[string]syscall.Signal{
	"stop":   syscall.SIGKILL,
	"quit":   syscall.SIGINT,
	"term":   syscall.SIGTERM,
	"reopen": syscall.SIGUSR1,
	"reload": syscall.SIGHUP,
}

// sendSignal carries out --signal <command>[=<pid or pid file>]. Without
// =<pid> the pid comes from the -P (pid_file) file given as a flag or in the
// -c file, else from pgrep, as nats-server does.
func sendSignal(o *options) error {
	cmd, target, hasTarget := strings.Cut(o.signal, "=")
	if strings.Contains(target, "=") {
		return fmt.Errorf("invalid signal parameters: %q", o.signal)
	}
	if cmd == "ldm" {
		return errors.New("barge has no lame duck mode (ldm)")
	}
	sig, ok := signalCommands[cmd]
	if !ok {
		return fmt.Errorf("unknown signal %q (want reload, reopen, quit, term or stop)", cmd)
	}
	if !hasTarget {
		var err error
		if target, err = o.pidFile(); err != nil {
			return err
		}
	}
	var pid int
	switch {
	case target != "":
		s := target
		if b, err := os.ReadFile(target); err == nil {
			s = strings.TrimSpace(string(b))
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid pid: %s", s)
		}
		pid = n
	default:
		n, err := findBarge()
		if err != nil {
			return err
		}
		pid = n
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %q %d: %w", cmd, pid, err)
	}
	return nil
}

// pidFile is the pid file named by -P, or by the -c file's pid_file.
func (o *options) pidFile() (string, error) {
	path := ""
	for _, s := range o.sets {
		if s.key == "pid_file" {
			path = s.val
		}
	}
	if path != "" || o.configFile == "" {
		return path, nil
	}
	c := app.Defaults()
	if err := c.LoadFile(o.configFile); err != nil {
		return "", err
	}
	return c.PidFile, nil
}

// findBarge returns the pid of the one other process named barge.
func findBarge() (int, error) {
	out, err := exec.Command("pgrep", "-x", "barge").Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, errors.New("unable to resolve pid, try providing one")
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return 0, errors.New("unable to resolve pid, try providing one")
		}
		if n != os.Getpid() {
			pids = append(pids, n)
		}
	}
	switch len(pids) {
	case 0:
		return 0, errors.New("no barge processes running")
	case 1:
		return pids[0], nil
	}
	return 0, fmt.Errorf("multiple barge processes running: %s; give one: --signal <signal>=<pid>",
		strings.Trim(fmt.Sprint(pids), "[]"))
}
