// Package tlsconf holds barge's TLS settings and builds the *tls.Config the
// transports use, with certificate reload.
//
// Options carries nats-server's `tls { }` block: FromMap maps the block as
// nats-server's conf package parses it (map[string]any; cert_file,
// key_file, ca_file, verify, verify_and_map, timeout, handshake_first,
// min_version, cipher_suites, curve_preferences, in nats-server's value
// forms), and the command-line flags (--tls, --tlscert, --tlskey,
// --tlscacert, --tlsverify) fill the same struct.
//
// Certs loads the files named by Options and hands out configs that read
// the current load through an atomic pointer: a server config's
// GetConfigForClient, a client config built per dial. Reload reads the files
// again and swaps the pointer only when everything loads; Watch polls the
// files' size and modification time on a clock and reloads when they
// change. A reload affects new handshakes only: an established connection
// keeps the keys it negotiated.
package tlsconf
