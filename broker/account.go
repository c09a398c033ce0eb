package broker

import (
	"sync"
	"sync/atomic"

	"github.com/bargemq/barge/codec"
)

// Accounts. Each account is its own subject space: it has its own Sublist,
// so a message published in one account is matched against that account's
// subscriptions only, and the subject spaces cost the hot path nothing but
// the atomic load of the publisher's account pointer. A client is bound to
// its account when it logs in (the global account "$G" until then, and
// for every user that names none). Internal subscriptions (JetStream, the
// system services) are made in an account too; the Server's own shortcuts
// (SubscribeInternal, Send, Sublist) act on the global account.
//
// Accounts are created on first use, by name: a login into an account
// that has no subscriptions yet, or a peer's interest or message for an
// account this server has not seen, creates it. The set only grows (an
// account removed from the configuration keeps its empty Sublist until
// the server restarts), which keeps lookups lock-free.

// GlobalAccountName is the account of clients outside any configured
// account, nats-server's "$G".
const GlobalAccountName = "$G"

// Account is one subject space. Its name is fixed; its Sublist is safe for
// concurrent use.
type Account struct {
	srv  *Server
	name string
	sl   *Sublist
	// limits are the account's client limits (SetLimits); nil: none.
	limits atomic.Pointer[AccountLimits]
	// conns counts the clients logged in to the account.
	conns atomic.Int64
	// capturer takes messages published in this account into its streams;
	// nil without JetStream for the account. Set before its clients
	// publish (SetCapturer, Account.SetCapturer).
	capturer atomic.Pointer[capturerBox]
}

// AccountLimits are an account's limits block: MaxConnections bounds the
// clients logged in to the account on this server, MaxSubscriptions the
// subscriptions of each of its clients; 0 is unlimited.
type AccountLimits struct {
	MaxConnections   int
	MaxSubscriptions int
}

// SetLimits installs the account's limits for the logins and
// subscriptions that follow.
func (a *Account) SetLimits(l AccountLimits) { a.limits.Store(&l) }

// NumConnections is the number of clients logged in to the account here.
func (a *Account) NumConnections() int { return int(a.conns.Load()) }

// Errors worded as nats-server sends them.
var errMaxAccountConns = &codec.ProtoError{Msg: "maximum account active connections exceeded", Fatal: true}

// bindAccount counts c in acc (and out of the account it was counted in),
// refusing it when acc has its MaxConnections clients.
func (c *client) bindAccount(acc *Account) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.counted == acc {
		return nil
	}
	if l := acc.limits.Load(); l != nil && l.MaxConnections > 0 && acc.conns.Load() >= int64(l.MaxConnections) {
		return errMaxAccountConns
	}
	acc.conns.Add(1)
	if old := c.mu.counted; old != nil {
		old.conns.Add(-1)
	}
	c.mu.counted = acc
	return nil
}

// unbindAccount uncounts a closed client.
func (c *client) unbindAccount() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.counted != nil {
		c.mu.counted.conns.Add(-1)
		c.mu.counted = nil
	}
}

// capturerBox holds a Capturer behind an atomic pointer.
type capturerBox struct{ c Capturer }

// Name returns the account's name.
func (a *Account) Name() string { return a.name }

// Sublist returns the account's subscription index.
func (a *Account) Sublist() *Sublist { return a.sl }

// SetCapturer installs the account's stream capturer (nil removes it).
func (a *Account) SetCapturer(c Capturer) {
	if c == nil {
		a.capturer.Store(nil)
		return
	}
	a.capturer.Store(&capturerBox{c})
}

// getCapturer returns the account's capturer, nil when none.
func (a *Account) getCapturer() Capturer {
	if b := a.capturer.Load(); b != nil {
		return b.c
	}
	return nil
}

// accountSet is the server's accounts by name: a copy-on-write map behind
// an atomic pointer, so that a lookup (a routed message names its account)
// takes no lock and allocates nothing.
type accountSet struct {
	// mu serializes creations; readers only load m.
	mu        sync.Mutex
	m         atomic.Pointer[map[string]*Account]
	srv       *Server
	cacheSize int
}

func newAccountSet(srv *Server, cacheSize int) *accountSet {
	as := &accountSet{srv: srv, cacheSize: cacheSize}
	m := map[string]*Account{GlobalAccountName: {srv: srv, name: GlobalAccountName, sl: NewSublist(cacheSize)}}
	as.m.Store(&m)
	return as
}

// get returns the account named name, creating it if needed.
func (as *accountSet) get(name string) *Account {
	if a := (*as.m.Load())[name]; a != nil {
		return a
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	old := *as.m.Load()
	if a := old[name]; a != nil {
		return a
	}
	a := &Account{srv: as.srv, name: name, sl: NewSublist(as.cacheSize)}
	m := make(map[string]*Account, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = a
	as.m.Store(&m)
	return a
}

// getBytes is get for a name in a buffer; it allocates only to create.
func (as *accountSet) getBytes(name []byte) *Account {
	if a := (*as.m.Load())[string(name)]; a != nil {
		return a
	}
	return as.get(string(name))
}

// all returns every account (in no particular order).
func (as *accountSet) all() []*Account {
	m := *as.m.Load()
	out := make([]*Account, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	return out
}

// Account returns the account named name, creating it if needed ("" is
// the global account).
func (s *Server) Account(name string) *Account {
	if name == "" {
		return s.global
	}
	return s.accounts.get(name)
}

// GlobalAccount returns the global account "$G".
func (s *Server) GlobalAccount() *Account { return s.global }

// Accounts returns every account the server knows.
func (s *Server) Accounts() []*Account { return s.accounts.all() }

// account returns the account c is bound to.
func (c *client) account() *Account { return c.acc.Load() }

// removeSubs removes subs, which may belong to different accounts, from
// their accounts' sublists.
func removeSubs(subs []*Subscription) {
	if len(subs) == 0 {
		return
	}
	first := subs[0].acc
	same := true
	for _, sub := range subs {
		if sub.acc != first {
			same = false
			break
		}
	}
	if same {
		first.sl.RemoveBatch(subs)
		return
	}
	by := make(map[*Account][]*Subscription)
	for _, sub := range subs {
		by[sub.acc] = append(by[sub.acc], sub)
	}
	for a, list := range by {
		a.sl.RemoveBatch(list)
	}
}

// subscriptionCount is the number of subscriptions in every account.
func (s *Server) subscriptionCount() int {
	n := 0
	for _, a := range s.accounts.all() {
		n += a.sl.Count()
	}
	return n
}
