package auth

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
)

// passCacheMax bounds the verified passwords a passCache remembers.
const passCacheMax = 4096

// passCache remembers which (bcrypt hash, password) pairs verified, so that
// a reconnect storm of one user costs one bcrypt comparison (tens of
// milliseconds of CPU each), not one per login. Only successes are kept,
// as a SHA-256 of the password, never the password itself, under the
// configured hash it verified against; a reload keeps the entries of the
// hashes that are still configured and drops the rest. Concurrent
// verifications of one pair wait for the first instead of repeating it.
type passCache struct {
	// computed counts bcrypt comparisons actually run (tests, logs).
	computed atomic.Int64

	mu struct {
		sync.Mutex
		// ok maps a configured hash to the digests of the passwords
		// that verified against it.
		ok map[string]map[[32]byte]struct{}
		// n is the number of digests in ok.
		n int
		// inflight are the comparisons running, by hash and digest.
		inflight map[inflightKey]*passCall
	}
}

type inflightKey struct {
	hash   string
	digest [32]byte
}

// passCall is one running comparison; done is closed once ok is set.
type passCall struct {
	done chan struct{}
	ok   bool
}

func newPassCache() *passCache {
	pc := &passCache{}
	pc.mu.ok = make(map[string]map[[32]byte]struct{})
	pc.mu.inflight = make(map[inflightKey]*passCall)
	return pc
}

// retain returns a cache with prev's entries for the hashes in keep (nil
// prev gives an empty one).
func (prev *passCache) retain(keep map[string]bool) *passCache {
	pc := newPassCache()
	if prev == nil {
		return pc
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	for h, set := range prev.mu.ok {
		if !keep[h] {
			continue
		}
		cp := make(map[[32]byte]struct{}, len(set))
		for d := range set {
			cp[d] = struct{}{}
		}
		pc.mu.ok[h] = cp
		pc.mu.n += len(cp)
	}
	return pc
}

// compare reports whether pass matches the bcrypt hash.
func (pc *passCache) compare(hash, pass string) bool {
	d := sha256.Sum256([]byte(pass))
	k := inflightKey{hash, d}
	pc.mu.Lock()
	if _, hit := pc.mu.ok[hash][d]; hit {
		pc.mu.Unlock()
		return true
	}
	if c := pc.mu.inflight[k]; c != nil {
		pc.mu.Unlock()
		<-c.done
		return c.ok
	}
	c := &passCall{done: make(chan struct{})}
	pc.mu.inflight[k] = c
	pc.mu.Unlock()

	pc.computed.Add(1)
	c.ok = bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil

	pc.mu.Lock()
	delete(pc.mu.inflight, k)
	if c.ok {
		pc.addLocked(hash, d)
	}
	pc.mu.Unlock()
	close(c.done)
	return c.ok
}

// addLocked remembers a verified digest, first forgetting a quarter of the
// cache (whichever entries map iteration yields) when it is full.
func (pc *passCache) addLocked(hash string, d [32]byte) {
	if pc.mu.n >= passCacheMax {
		drop := passCacheMax / 4
		for h, set := range pc.mu.ok {
			for x := range set {
				delete(set, x)
				pc.mu.n--
				drop--
				if drop == 0 {
					break
				}
			}
			if len(set) == 0 {
				delete(pc.mu.ok, h)
			}
			if drop == 0 {
				break
			}
		}
	}
	set := pc.mu.ok[hash]
	if set == nil {
		set = make(map[[32]byte]struct{})
		pc.mu.ok[hash] = set
	}
	if _, dup := set[d]; !dup {
		set[d] = struct{}{}
		pc.mu.n++
	}
}
