package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream"
	"github.com/bargemq/barge/codec/jsapi"
)

// JetStream per account. The global account's engine is App.js, its
// streams under <store_dir>/jetstream as before accounts existed. Every
// other account with `jetstream` in the accounts block has an engine of
// its own, bound to the account's subject space (its $JS.API, capture and
// deliveries) with its data under <store_dir>/accounts/<name>/jetstream
// and the account's limits. A configured account without it answers its
// $JS.API requests with 10039 'jetstream not enabled for account'.
// A JetStream cluster (cluster_size) keeps JetStream to the global account
// (Validate refuses account jetstream there).

// startAccountJetStream starts the engines of the accounts with
// JetStream and answers the others' API requests with 10039.
func (a *App) startAccountJetStream() error {
	for _, ac := range a.cfg.Accounts {
		acc := a.broker.Account(ac.Name)
		if ac.JetStream == nil {
			if _, err := acc.SubscribeInternal(jsapi.APIWildcard, "", func(m *broker.InternalMsg) {
				notEnabledForAccount(acc, m)
			}); err != nil {
				return fmt.Errorf("account %q: %w", ac.Name, err)
			}
			continue
		}
		o := a.jsOptions()
		o.StoreDir = filepath.Join(a.cfg.StoreDir, "accounts", ac.Name)
		o.Account = acc
		o.Clustered = false
		o.MaxMemory, o.MaxStore = ac.JetStream.MaxMemory, ac.JetStream.MaxFile
		o.MaxStreams, o.MaxConsumers = ac.JetStream.MaxStreams, ac.JetStream.MaxConsumers
		js, err := jetstream.New(a.broker, o)
		if err != nil {
			return fmt.Errorf("jetstream for account %q: %w", ac.Name, err)
		}
		if a.accountJS == nil {
			a.accountJS = make(map[string]*jetstream.Engine)
		}
		a.accountJS[ac.Name] = js
	}
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
	var errs []error
	for name, js := range a.accountJS {
		if err := js.Close(); err != nil {
			errs = append(errs, fmt.Errorf("account %q: %w", name, err))
		}
	}
	a.accountJS = nil
	return errors.Join(errs...)
}

// AccountJetStream returns the engine of the named account (the global
// account's for "" or "$G"), nil when it has none.
func (a *App) AccountJetStream(name string) *jetstream.Engine {
	if name == "" || name == broker.GlobalAccountName {
		return a.js
	}
	return a.accountJS[name]
}
