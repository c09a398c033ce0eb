// Package broker owns barge's message routing: subjects and subscriptions,
// client sessions, and (in later files) streams and consumers.
//
// # Core NATS
//
// netpoll accepts a connection and calls Server.Accept with its Transport;
// the returned Session is fed every read. A session parses with
// codec.Parser and acts on each operation as it completes:
//
//	netpoll read ─▶ Session.Data ─▶ codec.Parser ─▶ client (codec.Handler)
//	                                                   │ PubStart: Sublist.Match once
//	                                                   ▼
//	                              receivers' Transport.Write / Transport.BeginStream
//
// Subjects are indexed in a Sublist, a token trie with '*' and '>'
// wildcards and a bounded cache of match results per literal subject; a
// cached Match allocates nothing, so neither does publishing a small message
// to known subscribers.
//
// Decisions, where nats-server left a choice or barge departs from it:
//
//   - INFO advertises version NATSVersion ("2.14.0") and api_lvl
//     (jsapi.BargeAPILevel) so nats.go and the nats
//     CLI use their modern API forms; barge's own release is Version, also
//     reported as barge_version in Varz.
//   - A payload of at most Options.StreamThreshold (64 KiB) is gathered into
//     a pooled buffer and written to each receiver with one Transport.Write
//     (line, payload and CRLF together, the payload not copied per
//     receiver). A larger one is forwarded piece by piece through one
//     Transport.Stream per receiver, opened at the control line, so no
//     message is ever held whole in memory.
//   - A publisher that disconnects mid-payload aborts every open stream
//     (receivers that already got part of it are cut by the transport,
//     as their protocol stream is corrupt) and delivers nothing it gathered.
//   - A message with headers is delivered to a client that did not ask for
//     headers as MSG with the body only, as nats-server does.
//   - A pedantic client's PUB to an invalid subject gets
//     -ERR 'Invalid Publish Subject' and the message is dropped (nats-server
//     sends the error but still delivers it).
//   - No responders: a PUB with a reply subject that reached nobody, from a
//     client with headers and no_responders, gets
//     "HMSG <reply> <sid> n n\r\nNATS/1.0 503\r\nNats-Subject: <subject>\r\n\r\n"
//     on the first of its own subscriptions matching the reply subject, the
//     exact form nats-server sends and nats.go turns into ErrNoResponders.
//   - Keepalive: a PING every PingInterval; at the tick after MaxPingsOut
//     unanswered PINGs the client gets -ERR 'Stale Connection' and is
//     closed. Unlike nats-server, recent inbound traffic does not delay the
//     PING.
//   - Queue groups: one member per group per message, chosen uniformly by a
//     per-connection generator seeded from Options.Rand; with echo false the
//     publisher's own members are left out. Groups of the same name under
//     different subjects count as one group, as in nats-server.
//   - Options.MaxConnections: a client over it gets INFO and
//     -ERR 'maximum connections exceeded', as from nats-server, but the
//     connection is closed at its first input (its CONNECT) or after a
//     second, not at once: nats.go writes CONNECT right after INFO, and a
//     close before that turns the error into a broken pipe at the client.
//   - A connection its transport cuts as a slow consumer (the Closed reason
//     wraps codec.ErrSlowConsumer) is counted in Varz.SlowConsumers and
//     logged at warning level with its cid, address and the reason.
//   - Authentication and permissions (auth.go, perms.go; the rules are
//     the auth package's): a login is decided at CONNECT, and the user's
//     compiled permissions are held per connection with caches of the
//     answers, so a permitted publish costs an atomic load and one map
//     lookup and allocates nothing; a connection without permissions pays
//     one nil check. A reload (Server.SetAuth) authenticates every client
//     again with its CONNECT's credentials. The requester's permissions
//     travel with an internal message (InternalMsg.Perms) so JetStream can
//     check reads.
//   - Accounts (account.go): each account has its own Sublist and the
//     client holds a pointer to its account, bound at login, so tenancy
//     costs a publish one atomic load. The account travels on every route
//     line (RS+/RS-/RMSG name it first, as nats-server's do). Accounts are
//     created by name on first use and never removed. An account's limits
//     (AccountLimits) are checked at login and at SUB, not per message.
package broker
