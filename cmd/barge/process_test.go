package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// buildOnce builds the barge binary once for the package's process tests.
var buildOnce struct {
	sync.Once
	dir, bin string
	err      error
	out      []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.dir != "" {
		os.RemoveAll(buildOnce.dir)
	}
	os.Exit(code)
}

// bargeBin returns the path of a freshly built barge binary.
func bargeBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	buildOnce.Do(func() {
		buildOnce.dir, buildOnce.err = os.MkdirTemp("", "barge-bin-")
		if buildOnce.err != nil {
			return
		}
		buildOnce.bin = filepath.Join(buildOnce.dir, "barge")
		buildOnce.out, buildOnce.err = exec.Command("go", "build", "-o", buildOnce.bin, ".").CombinedOutput()
	})
	if buildOnce.err != nil {
		t.Fatalf("build: %v\n%s", buildOnce.err, buildOnce.out)
	}
	return buildOnce.bin
}

// proc is a barge process whose stderr (its log) is read line by line.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string // stderr lines; closed at EOF
	done  chan error  // the exit, once
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(bargeBin(t), args...), lines: make(chan string, 1024), done: make(chan error, 1)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		for range p.lines {
		}
	})
	return p
}

// waitLine reads log lines until one matches re and returns its submatches;
// it fails the test if the process ends or 30 s pass first.
func (p *proc) waitLine(re string) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("barge exited before logging %q", re)
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			p.t.Fatalf("barge did not log %q within 30s", re)
		}
	}
}

// wait waits for the process to exit and returns its error (nil: status 0).
func (p *proc) wait() error {
	p.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case _, ok := <-p.lines:
			if !ok {
				return <-p.done
			}
		case <-deadline:
			p.t.Fatal("barge did not exit within 30s")
			return nil
		}
	}
}
