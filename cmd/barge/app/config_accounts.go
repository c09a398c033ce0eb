package app

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/subject"
)

// The accounts block, mapped with nats-server's keys:
//
//	accounts {
//	  A: {
//	    users: [ {user: a, password: pa} ]      # as in authorization
//	    default_permissions: { publish: "a.>" } # for its users without any
//	  }
//	  B: { users: [ {user: b, password: pb} ] }
//	}
//	no_auth_user: a                             # may be an account's user
//
// or a list of names, `accounts: [A, B]`. Each account is its own subject
// space (broker.Account). Its users join the authorization's users list,
// each with the account it logs in to, so a reload of the users works as
// for the authorization block.

// AccountConfig is one account of the accounts block.
type AccountConfig struct {
	// Name is the account's name, as written (names are case-sensitive).
	Name    string
	Exports []ExportConfig
	Imports []ImportConfig
	// JetStream is the account's jetstream setting; nil: no JetStream
	// for the account.
	JetStream *AccountJetStream
	// Limits is the account's limits block (max_connections on this
	// server, max_subscriptions per client); 0 is unlimited.
	Limits broker.AccountLimits
}

// AccountJetStream are an account's JetStream limits (`jetstream: enabled`
// sets none); 0 is unlimited.
type AccountJetStream struct {
	MaxMemory, MaxFile       int64
	MaxStreams, MaxConsumers int
}

// ExportConfig is one entry of an account's exports: a stream or a
// service subject, the accounts that may import it (none: any), and for a
// service its response type and threshold.
type ExportConfig struct {
	Service      bool
	Subject      string
	Accounts     []string
	ResponseType broker.ResponseType
	Threshold    time.Duration
}

// ImportConfig is one entry of an account's imports: a stream or service
// of Account on Subject, mapped to To (for a stream, Prefix + "." +
// Subject when Prefix is set; for a service, the subject the importing
// account's clients request on).
type ImportConfig struct {
	Service bool
	Account string
	Subject string
	To      string
	Prefix  string
}

// reservedAccount reports names the accounts block cannot define,
// nats-server's check.
func reservedAccount(name string) bool { return name == auth.GlobalAccount }

// applyAccounts maps the accounts block.
func (c *Config) applyAccounts(n Node) error {
	var names []string
	raw, isMap := n.V.(map[string]any)
	if !isMap {
		var err error
		if names, err = n.Strings(); err != nil {
			return n.Errorf("accounts: want a block or a list of names")
		}
	} else {
		// Account names are case-sensitive: use the raw map's keys.
		for k := range raw {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	seen := make(map[string]bool, len(c.Accounts)+len(names))
	for _, a := range c.Accounts {
		seen[a.Name] = true
	}
	for _, name := range names {
		if reservedAccount(name) {
			return n.Errorf("%q is a Reserved Account", name)
		}
		if seen[name] {
			return n.Errorf("Duplicate Account Entry: %s", name)
		}
		seen[name] = true
		ac := AccountConfig{Name: name}
		if isMap {
			if err := c.applyAccount(&ac, nodeOf(raw[name], n.File, n.Line)); err != nil {
				return err
			}
		}
		c.Accounts = append(c.Accounts, ac)
	}
	return nil
}

// applyAccount maps one account's block.
func (c *Config) applyAccount(ac *AccountConfig, n Node) error {
	m, err := n.Map()
	if err != nil {
		return n.Errorf("Expected map entries for accounts")
	}
	var users []auth.User
	var defaults *auth.Permissions
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "users":
			users, err = parseUsers(v)
		case "default_permissions":
			defaults, err = parsePermissions(v)
		case "exports":
			ac.Exports, err = parseExports(v)
		case "imports":
			ac.Imports, err = parseImports(v)
		case "jetstream":
			ac.JetStream, err = parseAccountJetStream(v)
		case "limits":
			ac.Limits, err = parseAccountLimits(v)
		default:
			return v.Errorf("unknown setting %q in account %q", k, ac.Name)
		}
		if err != nil {
			return err
		}
	}
	for i := range users {
		u := &users[i]
		if u.Account != "" && u.Account != ac.Name {
			return n.Errorf("user %q of account %q names account %q", u.ID(), ac.Name, u.Account)
		}
		u.Account = ac.Name
		if u.Permissions == nil {
			u.Permissions = defaults
		}
	}
	if len(users) > 0 {
		if c.Auth.Users == nil {
			c.Auth.Users = []auth.User{}
		}
		c.Auth.Users = append(c.Auth.Users, users...)
	}
	return nil
}

// parseAccountLimits reads an account's limits block.
func parseAccountLimits(n Node) (broker.AccountLimits, error) {
	var l broker.AccountLimits
	m, err := n.Map()
	if err != nil {
		return l, err
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		i, err := v.Int()
		if err != nil {
			return l, err
		}
		i = max(i, 0) // -1: unlimited
		switch k {
		case "max_connections", "max_conn":
			l.MaxConnections = int(i)
		case "max_subscriptions", "max_subs":
			l.MaxSubscriptions = int(i)
		case "max_payload", "max_pay", "max_leafnodes", "max_leafs":
			return l, v.Errorf("account limit %q is not supported", k)
		default:
			return l, v.Errorf("Unknown field %q parsing account limits", k)
		}
	}
	return l, nil
}

// parseAccountJetStream reads an account's jetstream: a boolean,
// "enabled"/"disabled", or a block of limits with nats-server's keys.
func parseAccountJetStream(n Node) (*AccountJetStream, error) {
	switch v := n.V.(type) {
	case bool:
		if v {
			return &AccountJetStream{}, nil
		}
		return nil, nil
	case string:
		switch strings.ToLower(v) {
		case "enabled", "enable":
			return &AccountJetStream{}, nil
		case "disabled", "disable":
			return nil, nil
		}
		return nil, n.Errorf("Expected 'enabled' or 'disabled' for string value, got '%s'", v)
	}
	m, err := n.Map()
	if err != nil {
		return nil, err
	}
	js := &AccountJetStream{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		i, err := v.Int()
		if err != nil {
			if _, isBool := v.V.(bool); isBool && (k == "max_bytes_required" || k == "max_stream_bytes" || k == "max_bytes") {
				continue
			}
			return nil, v.Errorf("Expected a parseable size for %q, got %v", k, v.V)
		}
		switch k {
		case "max_memory", "max_mem", "mem", "memory":
			js.MaxMemory = i
		case "max_store", "max_file", "max_disk", "store", "disk":
			js.MaxFile = i
		case "max_streams", "streams":
			js.MaxStreams = int(i)
		case "max_consumers", "consumers":
			js.MaxConsumers = int(i)
		case "mem_max_stream_bytes", "memory_max_stream_bytes", "disk_max_stream_bytes", "store_max_stream_bytes", "max_ack_pending":
			// Per-stream caps are not built; the account totals apply.
		default:
			return nil, v.Errorf("unknown setting %q in an account's jetstream", k)
		}
	}
	// -1 is nats-server's "unlimited".
	js.MaxMemory, js.MaxFile = max(js.MaxMemory, 0), max(js.MaxFile, 0)
	js.MaxStreams, js.MaxConsumers = max(js.MaxStreams, 0), max(js.MaxConsumers, 0)
	return js, nil
}

// parseExports reads an exports list.
func parseExports(n Node) ([]ExportConfig, error) {
	var out []ExportConfig
	for _, it := range n.List() {
		m, err := it.Map()
		if err != nil {
			return nil, it.Errorf("Export Items should be a map with type entry, got %s", kind(it.V))
		}
		var e ExportConfig
		kinds, rtSeen := 0, false
		for _, k := range sortedKeys(m) {
			v := m[k]
			switch k {
			case "stream", "service":
				kinds++
				e.Service = k == "service"
				if e.Subject, err = v.String(); err != nil {
					return nil, v.Errorf("Expected %s name to be string, got %s", k, kind(v.V))
				}
			case "accounts":
				e.Accounts, err = v.Strings()
			case "response", "response_type":
				rtSeen = true
				var s string
				if s, err = v.String(); err != nil {
					return nil, v.Errorf("Expected response type to be string, got %s", kind(v.V))
				}
				switch strings.ToLower(s) {
				case "single", "singleton":
					e.ResponseType = broker.Singleton
				case "stream":
					e.ResponseType = broker.Streamed
				case "chunk", "chunked":
					e.ResponseType = broker.Chunked
				default:
					return nil, v.Errorf("Unknown response type: %q", s)
				}
			case "threshold", "response_threshold", "response_max_time", "response_time":
				e.Threshold, err = v.Seconds()
			default:
				return nil, v.Errorf("Unknown field %q parsing export", k)
			}
			if err != nil {
				return nil, err
			}
		}
		switch {
		case kinds != 1:
			return nil, it.Errorf("an export needs one stream or service subject")
		case !e.Service && (rtSeen || e.Threshold != 0):
			return nil, it.Errorf("Detected response directive on non-service")
		}
		out = append(out, e)
	}
	return out, nil
}

// parseImports reads an imports list.
func parseImports(n Node) ([]ImportConfig, error) {
	var out []ImportConfig
	for _, it := range n.List() {
		m, err := it.Map()
		if err != nil {
			return nil, it.Errorf("Import Items should be a map with type entry, got %s", kind(it.V))
		}
		var im ImportConfig
		kinds := 0
		for _, k := range sortedKeys(m) {
			v := m[k]
			switch k {
			case "stream", "service":
				kinds++
				im.Service = k == "service"
				src, err := v.Map()
				if err != nil {
					return nil, v.Errorf("%s entry should be an account map, got %s", k, kind(v.V))
				}
				for sk, sv := range src {
					switch sk {
					case "account":
						im.Account, err = sv.String()
					case "subject":
						im.Subject, err = sv.String()
					default:
						return nil, sv.Errorf("Unknown field %q parsing import", sk)
					}
					if err != nil {
						return nil, err
					}
				}
				if im.Account == "" || im.Subject == "" {
					return nil, v.Errorf("Expect an account name and a subject")
				}
			case "prefix":
				im.Prefix, err = v.String()
			case "to", "local_subject":
				im.To, err = v.String()
			case "share", "allow_trace":
				// Latency sharing and message tracing are not built.
			default:
				return nil, v.Errorf("Unknown field %q parsing import", k)
			}
			if err != nil {
				return nil, err
			}
		}
		switch {
		case kinds != 1:
			return nil, it.Errorf("an import needs one stream or service entry")
		case im.Service && im.Prefix != "":
			return nil, it.Errorf("Detected prefix on a service import")
		case im.Prefix != "" && im.To != "":
			return nil, it.Errorf("an import takes prefix or to, not both")
		}
		out = append(out, im)
	}
	return out, nil
}

// validateAccounts checks what the accounts block refers to: a user
// naming an account that is not defined, and imports of what the other
// account does not export to the importer.
func (c *Config) validateAccounts() error {
	known := map[string]*AccountConfig{auth.GlobalAccount: {Name: auth.GlobalAccount}}
	for i := range c.Accounts {
		known[c.Accounts[i].Name] = &c.Accounts[i]
	}
	for _, u := range c.Auth.Users {
		if u.Account != "" && known[u.Account] == nil {
			return fmt.Errorf("user %q: account %q not defined", u.ID(), u.Account)
		}
	}
	for _, a := range c.Accounts {
		if a.JetStream != nil {
			switch {
			case !c.JetStream:
				return fmt.Errorf("account %q: jetstream needs JetStream enabled on the server", a.Name)
			case !safeDirName(a.Name):
				return fmt.Errorf("account %q: a JetStream account's name must be usable as a folder name", a.Name)
			}
		}
		for _, im := range a.Imports {
			from := known[im.Account]
			if from == nil {
				return fmt.Errorf("account %q: import from %q: account not defined", a.Name, im.Account)
			}
			from2, to2 := im.Subject, im.To
			if im.Prefix != "" {
				to2 = im.Prefix + "." + im.Subject
			}
			if im.Service && im.To != "" {
				from2, to2 = im.To, im.Subject
			}
			if err := broker.CheckImport(from2, to2); err != nil {
				return fmt.Errorf("account %q: import %q from %q: %w", a.Name, im.Subject, im.Account, err)
			}
			if im.Account == a.Name {
				return fmt.Errorf("account %q: import from itself", a.Name)
			}
			if exportFor(from, &im, a.Name) == nil {
				what := "stream"
				if im.Service {
					what = "service"
				}
				return fmt.Errorf("account %q: %s import %q from %q: not exported to it", a.Name, what, im.Subject, im.Account)
			}
		}
	}
	return nil
}

// exportFor returns the export of from that covers im for account to, nil
// when none does.
func exportFor(from *AccountConfig, im *ImportConfig, to string) *ExportConfig {
	for i := range from.Exports {
		e := &from.Exports[i]
		if e.Service != im.Service || !subject.IsSubset(im.Subject, e.Subject) {
			continue
		}
		if len(e.Accounts) == 0 || slices.Contains(e.Accounts, to) {
			return e
		}
	}
	return nil
}

// installImports sets up every account's imports in the broker.
func (a *App) installImports() error {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	a.accts.cfg = a.cfg.Accounts
	a.setAccountLimits(a.cfg.Accounts)
	return a.installImportsLocked(a.cfg.Accounts)
}

// setAccountLimits installs each account's limits block.
func (a *App) setAccountLimits(accounts []AccountConfig) {
	for _, ac := range accounts {
		a.broker.Account(ac.Name).SetLimits(ac.Limits)
	}
}

// installImportsLocked sets up the imports of accounts (which Validate
// checked), recording their subscriptions in a.accts.imports.
func (a *App) installImportsLocked(accounts []AccountConfig) error {
	known := make(map[string]*AccountConfig, len(accounts))
	for i := range accounts {
		known[accounts[i].Name] = &accounts[i]
	}
	for _, ac := range accounts {
		to := a.broker.Account(ac.Name)
		for _, im := range ac.Imports {
			from := a.broker.Account(im.Account)
			exp := exportFor(known[im.Account], &im, ac.Name)
			var err error
			var sub *broker.Subscription
			if im.Service {
				sub, err = a.broker.AddServiceImport(to, from, im.Subject, im.To, exp.ResponseType, exp.Threshold)
			} else {
				toSubj := im.To
				if im.Prefix != "" {
					toSubj = im.Prefix + "." + im.Subject
				}
				sub, err = a.broker.AddStreamImport(to, from, im.Subject, toSubj)
			}
			if sub != nil {
				a.accts.imports = append(a.accts.imports, sub)
			}
			if err != nil {
				return fmt.Errorf("account %q: import %q from %q: %w", ac.Name, im.Subject, im.Account, err)
			}
		}
	}
	return nil
}

// safeDirName reports whether an account name can name its folder under
// store_dir as it is.
func safeDirName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\:`) && !strings.HasPrefix(name, ".")
}
