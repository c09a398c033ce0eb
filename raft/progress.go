package raft

import (
	"context"
	"time"

	"github.com/bargemq/barge/log"
)

// Replica progress.
//
// Dragonboat v3.3.8 keeps each follower's match index inside its raft
// leader and exposes none of it (NodeHostInfo has membership and
// leadership only; the event listeners report leader changes and
// connections). So replicas report their own progress through the shard:
// a tiny report entry (node, applied index, the reporter's clock) proposed
// every ReportEvery while the replica applies entries and every
// 5×ReportEvery when idle. Every replica applies every report, so any
// member can say how far each replica was behind when its last report
// committed (the entries between its applied index and the report's own
// index) and how long ago it reported. A replica that is cut off cannot
// get a report committed, so its report ages.

// report proposes progress reports until Close.
func (s *StreamShard) report(every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := ^uint64(0) // report at the first tick
	idle := 0
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		applied := s.sm.applied.Load()
		if applied == last && idle < 4 {
			idle++
			continue
		}
		idle = 0
		ctx, cancel := context.WithTimeout(context.Background(), 5*every)
		go func() { // Close cancels a report in flight
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		cmd := appendReport(nil, s.h.cfg.NodeID, applied, s.h.cfg.Now().UnixNano())
		if _, err := s.propose(ctx, cmd); err == nil {
			last = applied
		}
		cancel()
	}
}

// Progress returns the last progress report of each replica that sent
// one since this replica started (see StreamOptions.ReportEvery).
func (s *StreamShard) Progress() []Progress { return s.sm.reports() }

// Applied is the raft index of the last entry this replica applied.
func (s *StreamShard) Applied() uint64 { return s.sm.applied.Load() }

// UpdateConfig changes the stream's limits on every replica: the config
// travels as a raft entry, so each replica applies it at the same point of
// the log and decides what comes after under the same limits. Storage and
// compression are not changed. It returns once this replica applied it.
func (s *StreamShard) UpdateConfig(ctx context.Context, cfg log.Config) error {
	res, err := s.propose(ctx, appendConfig(nil, cfg))
	if err != nil {
		return err
	}
	return errOf(res)
}

// Close stops the progress reporter and this host's replica (the shard
// goes on on the other members), and waits (up to closeWait) until its
// state machine has closed and released the log, so the caller may remove
// the directory and the shard may be started again.
func (s *StreamShard) Close() error {
	s.stopOnce.Do(func() { close(s.stop); s.cancel() })
	<-s.done
	if err := s.h.StopShard(s.id); err != nil {
		return err
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-s.sm.st.closed:
	case <-t.C:
		s.h.cfg.Logger.Warn("raft: stream shard stopped but its log is still open", "shard", s.id)
	}
	return nil
}

// closeWait bounds how long Close waits for Dragonboat to close a stopped
// shard's state machine (it takes a few of its worker cycles).
const closeWait = 10 * time.Second
