// Package auth is client authentication and permissions with nats-server's
// semantics: who may log in (Config, Authenticator) and what a user may
// publish, subscribe to and read (Permissions, compiled into Perms). It
// knows nothing of connections: the broker asks it at CONNECT, keeps the
// Identity per connection, and caches the answers of Perms on its hot path.
//
// # Logins
//
// Authenticator.Authenticate follows nats-server's order: operator mode (a
// user JWT whose account JWT, preloaded in the MEMORY resolver, a trusted
// operator signed; the nonce signed with the user's seed), nkey users (the
// nonce signed), users with a password (plain, compared in constant time,
// or bcrypt), the no_auth_user for a client that sends no credentials,
// then the single token or user/password. With Config.TLSMap (the client
// port's verify_and_map) users log in by their TLS certificate instead: its
// email, DNS and URI SANs, its subject as a distinguished name (in order,
// then reordered) and as a string are tried against the user names
// (certmap.go). A refusal is a *Failure whose
// reason is for the server's log only; the client is told 'Authorization
// Violation'.
//
// bcrypt costs tens of milliseconds of CPU per comparison. Verified
// (hash, password) pairs are remembered (as a SHA-256 of the password,
// bounded to passCacheMax), and concurrent logins of one pair wait for the
// first comparison, so a reconnect storm of one user costs one bcrypt; a
// reload keeps the results of the hashes it still configures.
//
// # Permissions
//
// Deny wins over allow. Publish: a subject must match an allow entry (when
// there is an allow list) and no deny entry; allow_responses turns the
// allow list on (empty: nothing but responses) and lets the broker accept
// a publish to a reply subject the user received, up to max responses
// within expires. Subscribe: nats-server's rules, queue entries
// ("subject queue") included (SubAllowed); a deny entry that only
// overlaps a wildcard subscription filters its deliveries
// (DeliveryDenied). Where barge departs from nats-server:
//
//   - A wildcard SUB must be covered by an allow entry (IsSubset):
//     nats-server matches the SUB's tokens literally, so allow "foo.*"
//     lets SUB foo.> through and delivers foo.a.b.
//   - MayRead is barge's own: JetStream reads (consumers, fetches, direct
//     and message gets, so KV and Object Store reads) need the subscribe
//     permission on the stored subjects, which nats-server never checks.
//   - default_permissions apply to users and nkey users without
//     permissions, as in nats-server; the single user and the token are
//     never restricted (nats-server neither).
//
// # Operator mode
//
// Operators are decoded and validated at New; each preloaded account must
// be signed by one of them. User JWT permissions (or the account's default
// permissions when the user has none), bearer tokens, revocations, the src
// and times limits and expiry are honoured; scoped signing keys work
// without templates ("{{name()}}" and the like are refused). The user's
// account is Identity.Account (the account's public key), which the broker
// makes a subject space of its own.
package auth
