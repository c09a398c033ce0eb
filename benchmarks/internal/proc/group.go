package proc

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Group is several server processes measured as one, such as the three
// members of a cluster: CPU seconds and peak RSS are summed over the members,
// and the group has exited as soon as any member has. Like Server, its
// methods are for one goroutine at a time.
type Group []*Server

// CPUSeconds returns the members' user+system CPU seconds added up.
func (g Group) CPUSeconds() (float64, error) {
	var sum float64
	for _, s := range g {
		v, err := s.CPUSeconds()
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// PeakRSS returns the sum of the members' VmHWM. Each member peaks at its own
// moment, so this bounds the group's largest combined resident set from above.
func (g Group) PeakRSS() (int64, error) {
	var sum int64
	for _, s := range g {
		v, err := s.PeakRSS()
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// ResetPeakRSS resets every member's VmHWM; it returns the first refusal.
func (g Group) ResetPeakRSS() error {
	var first error
	for _, s := range g {
		if err := s.ResetPeakRSS(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Exited reports whether any member has ended.
func (g Group) Exited() bool {
	for _, s := range g {
		if s.Exited() {
			return true
		}
	}
	return false
}

// Varz fetches the first member's /varz.
func (g Group) Varz(ctx context.Context) (map[string]any, error) {
	if len(g) == 0 {
		return nil, errors.New("proc: empty group")
	}
	return g[0].Varz(ctx)
}

// Stop stops every member at the same time (a cluster member waiting for
// its peers shuts down faster when they all go together) and returns the
// members' errors joined.
func (g Group) Stop(grace time.Duration) error {
	errs := make([]error, len(g))
	var wg sync.WaitGroup
	for i, s := range g {
		wg.Go(func() { errs[i] = s.Stop(grace) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
