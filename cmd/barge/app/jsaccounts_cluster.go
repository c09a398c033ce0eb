package app

import (
	"context"

	"github.com/bargemq/barge/broker/jetstream"
)

// Per-account JetStream in a JetStream cluster. Every account's engine is
// clustered over the one meta shard and raft host: the global account's
// keys are the meta shard's keys as they were before accounts
// (stream/<name>, consumer/…, cstate/…), another account's carry the
// account first (acct/<account>/stream/<name>, …), so an account's
// stream assignments, consumers and their state are its own and each
// engine lists only its account's. A stream's shard id hashes the account
// with the name (jetstream.shardIDFor), its replica lives under the
// account's folder (<store_dir>/accounts/<account>/jetstream/<stream>), and
// the forwarding to stream leaders and the calls between members are
// subscriptions of the account, so they travel the routes in the account.

// acctMetaPrefix prefixes a non-global account's keys in the meta shard.
const acctMetaPrefix = "acct/"

// acctRaft is jsRaft for one account: its meta keys under the account's
// prefix.
type acctRaft struct {
	*jsRaft
	prefix string
}

var _ jetstream.Cluster = (*acctRaft)(nil)

func (c *acctRaft) MetaPut(ctx context.Context, key string, value []byte, create bool) error {
	return c.jsRaft.MetaPut(ctx, c.prefix+key, value, create)
}

func (c *acctRaft) MetaList(ctx context.Context, prefix string) ([][]byte, error) {
	return c.jsRaft.MetaList(ctx, c.prefix+prefix)
}

func (c *acctRaft) MetaDelete(ctx context.Context, key string) error {
	return c.jsRaft.MetaDelete(ctx, c.prefix+key)
}

// clusterAccountEnginesLocked makes every account engine not yet clustered
// clustered over j; a.accts.mu is held. It runs when the meta shard starts
// and when a reload starts an engine after that.
func (a *App) clusterAccountEnginesLocked(j *jsRaft) {
	if j == nil {
		return
	}
	if a.accts.clustered == nil {
		a.accts.clustered = make(map[string]bool)
	}
	for name, js := range a.accts.js {
		if a.accts.clustered[name] {
			continue
		}
		a.accts.clustered[name] = true
		js.SetCluster(&acctRaft{jsRaft: j, prefix: acctMetaPrefix + name + "/"})
	}
}

// clusterAccountEngines is clusterAccountEnginesLocked taking the lock.
func (a *App) clusterAccountEngines(j *jsRaft) {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	a.clusterAccountEnginesLocked(j)
}

// metaRaft is the jsRaft of a started meta shard, nil before (or without
// a JetStream cluster).
func (a *App) metaRaft() *jsRaft {
	jc := a.jsc
	if jc == nil {
		return nil
	}
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if jc.mu.meta == nil {
		return nil
	}
	return &jsRaft{a: a, host: jc.host, meta: jc.mu.meta}
}
