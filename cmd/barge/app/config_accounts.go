package app

import (
	"fmt"
	"sort"

	"github.com/bargemq/barge/auth"
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
	Name string
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

// validateAccounts checks what the accounts block refers to: a user
// naming an account that is not defined.
func (c *Config) validateAccounts() error {
	known := map[string]bool{auth.GlobalAccount: true}
	for _, a := range c.Accounts {
		known[a.Name] = true
	}
	for _, u := range c.Auth.Users {
		if u.Account != "" && !known[u.Account] {
			return fmt.Errorf("user %q: account %q not defined", u.ID(), u.Account)
		}
	}
	return nil
}
