package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/nats-io/jwt/v2"
)

// JetStream per account. The global account's engine is App.js, its
// streams under <store_dir>/jetstream as before accounts existed. Every
// other account with `jetstream` in the accounts block has an engine of
// its own, bound to the account's subject space (its $JS.API, capture and
// deliveries) with its data under <store_dir>/accounts/<name>/jetstream
// and the account's limits. A configured account without it answers its
// $JS.API requests with 10039 'jetstream not enabled for account'.
// In a JetStream cluster (cluster_size) every account's engine is
// clustered (jsaccounts_cluster.go). In operator mode, each
// preloaded account JWT that enables JetStream gets an engine with its
// limits (operatorAccounts).
//
// A reload of the accounts block installs the new imports (the old ones
// are removed) and starts the engines of accounts that gain JetStream; an
// account's JetStream cannot be turned off or have its limits changed
// without a restart (the reload is refused).

// accountsState is what the App keeps of the accounts block.
type accountsState struct {
	// mu guards the fields: the reload changes them, monitoring and the
	// system account's requests read them.
	mu sync.Mutex
	// cfg is the accounts block in force.
	cfg []AccountConfig
	// js are the engines of the accounts other than the global one, by
	// account name.
	js map[string]*jetstream.Engine
	// noJS are the 10039 responders of accounts without JetStream.
	noJS map[string]*broker.Subscription
	// imports are the subscriptions of the imports in force.
	imports []*broker.Subscription
	// clustered names the engines of js made clustered (SetCluster).
	clustered map[string]bool
	// userInfo names the accounts that answer USER.INFO (sysacct_user.go).
	userInfo map[string]bool
}

// accountEngines returns a copy of the accounts' engines by name.
func (a *App) accountEngines() map[string]*jetstream.Engine {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	out := make(map[string]*jetstream.Engine, len(a.accts.js))
	for k, v := range a.accts.js {
		out[k] = v
	}
	return out
}

// accountConfigs returns the accounts block in force.
func (a *App) accountConfigs() []AccountConfig {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	return a.accts.cfg
}

// startAccountJetStream starts the engines of the accounts with
// JetStream and answers the others' API requests with 10039.
func (a *App) startAccountJetStream() error {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	return a.startAccountJetStreamLocked(append(a.cfg.Accounts, operatorAccounts(&a.cfg)...))
}

// operatorAccounts are the accounts of operator mode's preloaded JWTs,
// named by public key, with JetStream where the account's claims enable
// it (memory or disk storage not 0), with its limits (-1: unlimited).
func operatorAccounts(c *Config) []AccountConfig {
	var out []AccountConfig
	for key, s := range c.Auth.Accounts {
		ac, err := jwt.DecodeAccountClaims(s)
		if err != nil {
			continue // Validate and the authenticator refuse it
		}
		x := AccountConfig{Name: key}
		if ac.Limits.IsJSEnabled() {
			l := ac.Limits.JetStreamLimits
			if t, ok := ac.Limits.JetStreamTieredLimits["R1"]; ok {
				l = t // the engine keeps one set of limits: R1's
			}
			x.JetStream = &AccountJetStream{
				MaxMemory: max(l.MemoryStorage, 0), MaxFile: max(l.DiskStorage, 0),
				MaxStreams: int(max(l.Streams, 0)), MaxConsumers: int(max(l.Consumer, 0)),
			}
		}
		out = append(out, x)
	}
	return out
}

// startOperatorJetStream starts JetStream for operator accounts a reload
// of the resolver_preload added (an account's engine keeps the limits it
// started with).
func (a *App) startOperatorJetStream(c *Config) error {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	return a.startAccountJetStreamLocked(operatorAccounts(c))
}

// startAccountJetStreamLocked gives each of accounts that has no engine
// and no 10039 responder yet the one it needs.
func (a *App) startAccountJetStreamLocked(accounts []AccountConfig) error {
	if a.js == nil {
		return nil
	}
	if a.accts.js == nil {
		a.accts.js = make(map[string]*jetstream.Engine)
		a.accts.noJS = make(map[string]*broker.Subscription)
	}
	for _, ac := range accounts {
		acc := a.broker.Account(ac.Name)
		if a.accts.js[ac.Name] != nil {
			continue
		}
		if ac.JetStream == nil {
			if a.accts.noJS[ac.Name] != nil {
				continue
			}
			sub, err := acc.SubscribeInternal(jsapi.APIWildcard, "", func(m *broker.InternalMsg) {
				notEnabledForAccount(acc, m)
			})
			if err != nil {
				return fmt.Errorf("account %q: %w", ac.Name, err)
			}
			a.accts.noJS[ac.Name] = sub
			continue
		}
		if sub := a.accts.noJS[ac.Name]; sub != nil {
			_ = acc.UnsubscribeInternal(sub)
			delete(a.accts.noJS, ac.Name)
		}
		o := a.jsOptions()
		o.StoreDir = filepath.Join(a.cfg.StoreDir, "accounts", ac.Name)
		o.Account = acc
		o.MaxMemory, o.MaxStore = ac.JetStream.MaxMemory, ac.JetStream.MaxFile
		o.MaxStreams, o.MaxConsumers = ac.JetStream.MaxStreams, ac.JetStream.MaxConsumers
		js, err := jetstream.New(a.broker, o)
		if err != nil {
			return fmt.Errorf("jetstream for account %q: %w", ac.Name, err)
		}
		a.accts.js[ac.Name] = js
	}
	a.clusterAccountEnginesLocked(a.metaRaft())
	return nil
}

// notEnabledForAccount answers an API request in an account without
// JetStream, as nats-server does.
func notEnabledForAccount(acc *broker.Account, m *broker.InternalMsg) {
	if len(m.Reply) == 0 {
		return
	}
	body, _ := json.Marshal(jsapi.APIResponse{Error: jsapi.NewAPIError(jsapi.ErrCodeNotEnabledForAccount)})
	acc.Deliver(m.Reply, nil, nil, body)
}

// closeAccountJetStream closes the accounts' engines.
func (a *App) closeAccountJetStream() error {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	var errs []error
	for name, js := range a.accts.js {
		if err := js.Close(); err != nil {
			errs = append(errs, fmt.Errorf("account %q: %w", name, err))
		}
	}
	a.accts.js = nil
	a.accts.clustered = nil
	return errors.Join(errs...)
}

// AccountJetStream returns the engine of the named account (the global
// account's for "" or "$G"), nil when it has none.
func (a *App) AccountJetStream(name string) *jetstream.Engine {
	if name == "" || name == broker.GlobalAccountName {
		return a.js
	}
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	return a.accts.js[name]
}

// checkAccountsReload refuses a reload that turns an account's JetStream
// off or changes its limits.
func checkAccountsReload(old, cur []AccountConfig) error {
	next := make(map[string]*AccountConfig, len(cur))
	for i := range cur {
		next[cur[i].Name] = &cur[i]
	}
	for _, o := range old {
		if o.JetStream == nil {
			continue
		}
		n := next[o.Name]
		if n == nil || !reflect.DeepEqual(o.JetStream, n.JetStream) {
			return fmt.Errorf("config reload not supported for jetstream of account %q: restart the server", o.Name)
		}
	}
	return nil
}

// applyAccounts installs a reloaded accounts block: the new imports in
// place of the old, engines for accounts that gained JetStream, 10039
// responders for new accounts without it. Accounts that left keep their
// (empty) subject space; their users are gone with the authorization.
func (a *App) applyAccounts(c *Config) error {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	if err := a.startAccountJetStreamLocked(c.Accounts); err != nil {
		return err
	}
	a.setAccountLimits(c.Accounts)
	for _, sub := range a.accts.imports {
		_ = a.broker.UnsubscribeInternal(sub)
	}
	a.accts.imports = nil
	err := a.installImportsLocked(c.Accounts)
	a.accts.cfg = c.Accounts
	a.installUserInfoLocked()
	return err
}
