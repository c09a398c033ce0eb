package app

import (
	"encoding/json"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/broker"
)

// $SYS.REQ.USER.INFO, which nats-server serves in every account (`nats
// account info` shows its answer): who the requesting client is, its
// account and its permissions, {"server": {...}, "data": {"user",
// "account", "permissions"}}. barge subscribes it in each account it knows
// at start (the accounts block's and operator mode's preloaded ones) and in
// each a reload of the accounts block adds; an account a reload of
// resolver_preload adds has none (the CLI then prints the rest of account
// info without the user lines).

const userInfoSubject = "$SYS.REQ.USER.INFO"

// userInfo is nats-server's UserInfo.
type userInfo struct {
	User        string            `json:"user"`
	Account     string            `json:"account"`
	Permissions *auth.Permissions `json:"permissions,omitempty"`
}

// installUserInfoLocked subscribes USER.INFO in every account that lacks
// it; a.accts.mu is held.
func (a *App) installUserInfoLocked() {
	if a.accts.userInfo == nil {
		a.accts.userInfo = make(map[string]bool)
	}
	for key := range a.cfg.Auth.Accounts {
		a.broker.Account(key) // operator mode's preloaded accounts, before their first login
	}
	for _, acc := range a.broker.Accounts() {
		if a.accts.userInfo[acc.Name()] {
			continue
		}
		acc := acc
		if _, err := acc.SubscribeInternal(userInfoSubject, "", func(m *broker.InternalMsg) { a.answerUserInfo(acc, m) }); err != nil {
			a.log.Error("system account: user info", "account", acc.Name(), "err", err)
			continue
		}
		a.accts.userInfo[acc.Name()] = true
	}
}

// installUserInfo is installUserInfoLocked taking the lock.
func (a *App) installUserInfo() {
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	a.installUserInfoLocked()
}

// answerUserInfo answers a client's USER.INFO in its account.
func (a *App) answerUserInfo(acc *broker.Account, m *broker.InternalMsg) {
	user, account, ok := m.Sender()
	if len(m.Reply) == 0 || !ok {
		return
	}
	ui := userInfo{User: user, Account: account}
	if m.Perms != nil {
		ui.Permissions = m.Perms.Source()
	}
	b, err := json.Marshal(map[string]any{"server": a.sysServerInfo(0), "data": ui})
	if err != nil {
		return
	}
	acc.Deliver(m.Reply, nil, nil, b)
}
