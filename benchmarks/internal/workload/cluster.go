package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Node is one member of a cluster under test.
type Node struct {
	Name string // server_name: how stream info names a leader or replica
	URL  string // client URL, nats://127.0.0.1:port
}

// Replicas returns the stream replica count workload name uses: 3 for the
// r3-* workloads, 1 for the others. A workload with more than one runs
// against a cluster of that many nodes.
func Replicas(name string) int {
	switch name {
	case "r3-pub", "r3-fetch", "r3-fastpub":
		return 3
	}
	return 1
}

// readyStream is the throwaway stream WaitCluster creates.
const readyStream = "BENCH_READY"

// WaitCluster returns once a client on nodes[0] can create a file stream with
// replicas copies whose leader is elected and whose other replicas are
// current, which needs a JetStream meta leader and enough live members. It
// retries until timeout and then returns the last failure. The stream it
// creates is deleted again.
func WaitCluster(ctx context.Context, nodes []Node, replicas int, timeout time.Duration) error {
	if len(nodes) == 0 {
		return errors.New("workload: no cluster nodes")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = tryReady(ctx, nodes[0].URL, replicas); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready after %v: %w", timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// tryReady is one WaitCluster attempt.
func tryReady(ctx context.Context, url string, replicas int) error {
	nc, err := nats.Connect(url, nats.Name("bargebench-ready"), nats.NoReconnect(), nats.Timeout(2*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(5*time.Second))
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.CreateStream(actx, jetstream.StreamConfig{Name: readyStream, Subjects: []string{"bench.ready"},
		Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		return fmt.Errorf("create an R%d stream: %w", replicas, err)
	}
	_, err = waitLeader(ctx, s, replicas, 10*time.Second)
	if derr := js.DeleteStream(context.WithoutCancel(actx), readyStream); err == nil && derr != nil {
		err = fmt.Errorf("delete the ready stream: %w", derr)
	}
	return err
}

// waitLeader polls the stream's info until it names a leader and
// replicas-1 other replicas, all current, and returns the leader's name.
func waitLeader(ctx context.Context, s jetstream.Stream, replicas int, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	why := "no answer"
	for {
		info, err := s.Info(ctx)
		switch {
		case err != nil:
			why = err.Error()
		case info.Cluster == nil || info.Cluster.Leader == "":
			why = "no leader"
		case len(info.Cluster.Replicas) != replicas-1:
			why = fmt.Sprintf("%d other replicas, want %d", len(info.Cluster.Replicas), replicas-1)
		default:
			why = ""
			for _, p := range info.Cluster.Replicas {
				if !p.Current {
					why = fmt.Sprintf("replica %s not current", p.Name)
				}
			}
			if why == "" {
				return info.Cluster.Leader, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("stream %s not led after %v: %s", s.CachedInfo().Config.Name, timeout, why)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// toLeader moves the client to the node that leads the stream it just
// created, so that publishes and the consumer's requests go to the node that
// orders the stream on both servers alike, rather than to whichever member
// the runner listed first. It fails when the leader is not among e.Nodes.
func (j *jsClient) toLeader(ctx context.Context, e *Env, name string) error {
	leader, err := waitLeader(ctx, j.stream, j.replicas, e.Idle)
	if err != nil {
		return err
	}
	j.leader = leader
	if j.nc.ConnectedServerName() == leader {
		return nil
	}
	for _, n := range e.Nodes {
		if n.Name != leader {
			continue
		}
		// Closing on purpose is no error to report.
		j.nc.SetDisconnectErrHandler(nil)
		j.nc.SetErrorHandler(nil)
		j.nc.Close()
		if err := j.dial(e, n.URL, name); err != nil {
			return err
		}
		j.stream, err = j.js.Stream(ctx, streamName)
		return err
	}
	return fmt.Errorf("stream leader %q is not one of the cluster's nodes %v", leader, e.Nodes)
}

// Leader returns the replicated stream's leader that the client moved to, or
// "" for an R1 stream.
func (w *jsPublish) Leader() string { return w.c.leader }

// Leader returns the replicated stream's leader that the client moved to, or
// "" for an R1 stream.
func (w *jsFetch) Leader() string { return w.c.leader }
