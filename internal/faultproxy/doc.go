// Package faultproxy is a fault-injecting TCP proxy for cluster tests: it
// stands between the members of a cluster (and, if wanted, between them and
// their clients), so a test can cut one member off from everyone and heal it
// again, without root, network namespaces or firewall rules.
//
// A Fabric holds a set of proxies. Each proxy listens on its own address and
// forwards every connection it accepts to one target address, which belongs
// to a named node: the members are configured to reach each other only
// through the proxies (advertise the proxy's address, listen on the target).
// Every forwarded connection is a link from a source to that node. The
// source is named by Options.Source from the dialer's address (PIDSource
// names it by the process that holds the dialing socket); a client that is
// no node has the empty name.
//
//	node a ──dial──▶ proxy(b) ──dial──▶ node b        link a → b
//	client ──dial──▶ proxy(b) ──dial──▶ node b        link "" → b
//
// Cut(n, mode) cuts every link whose source or target is n, both ways, the
// ones that exist and the ones accepted later, until Heal(n):
//
//   - Drop closes the links (with a reset) and closes each new connection
//     as soon as it is accepted: what a rejecting firewall does; the peers
//     notice at once and redial.
//   - Stall forwards nothing either way but keeps the connections open, and
//     a new one is accepted but not forwarded (its target is dialed only on
//     Heal): what a black hole does; the peers notice only through their
//     own timeouts. After Heal the stalled connections carry on where they
//     stopped, as TCP connections do after a short partition; at most one
//     read buffer per direction was held in the proxy meanwhile.
//
// Concurrency: a Fabric and its proxies are safe for concurrent use; each
// link runs two goroutines (one per direction), and Close waits for all of
// them.
package faultproxy
