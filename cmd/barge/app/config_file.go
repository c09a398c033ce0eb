package app

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/conf"
)

// Configuration files are read by nats-server's own parser
// (github.com/nats-io/nats-server/v2/conf): nested maps, lists, `include`,
// `$VARIABLES` (from the file or the environment), units (1k = 1000,
// 1kb = 1KiB, ...), `#` and `//` comments, `key: value`, `key = value` or
// `key value`. The parsed tree (a FileTree) is then mapped onto Config:
// top-level scalar keys through Set (their long flag names), and blocks by
// the mapping function fileBlock names. A new block (tls, accounts, ...) is
// one more function there.

// blockKeys maps the keys of the cluster and jetstream blocks to the long
// flag names, the way nats-server's configuration names them:
//
//	cluster {
//	  name: barge-local              # cluster_name
//	  listen: 127.0.0.1:6222         # cluster
//	  advertise: 10.0.0.1:6222       # cluster_advertise
//	  routes: [                      # routes
//	    nats://127.0.0.1:6223
//	    nats://127.0.0.1:6224
//	  ]
//	  raft: 127.0.0.1:7222           # raft
//	  raft_listen: 0.0.0.0:7222      # raft_listen
//	  node_id: 1                     # node_id
//	  size: 3                        # cluster_size
//	  tls { ... }                    # mutual TLS of routes and raft
//	}
//	jetstream {
//	  store_dir: /var/lib/barge      # store_dir
//	  sync: always                   # sync
//	}
//
// A block key that is not listed here is an error, as an unknown top-level
// key is.
func blockKeys(block string) map[string]string {
	switch block {
	case "cluster":
		return map[string]string{
			"name": "cluster_name", "listen": "cluster", "advertise": "cluster_advertise",
			"routes": "routes", "raft": "raft", "raft_listen": "raft_listen",
			"node_id": "node_id", "size": "cluster_size",
		}
	case "jetstream":
		return map[string]string{"store_dir": "store_dir", "sync": "sync", "enabled": "jetstream"}
	}
	return nil
}

// fileBlock returns the function mapping a top-level key's block (a map
// value) onto Config, nil when barge has no such block.
func fileBlock(key string) func(c *Config, n Node) error {
	switch key {
	case "cluster", "jetstream":
		return func(c *Config, n Node) error { return c.applyFlatBlock(key, n) }
	case "authorization":
		return (*Config).applyAuthorization
	case "tls":
		return func(c *Config, n Node) error { return c.applyTLSNode("", n) }
	case "resolver_preload":
		return (*Config).applyResolverPreload
	case "accounts":
		return (*Config).applyAccounts
	}
	return nil
}

// fileKey returns the function mapping a top-level key whose value is not
// a block (or may be either) onto Config, nil for the keys Set handles.
func fileKey(key string) func(c *Config, n Node) error {
	switch key {
	case "accounts":
		return (*Config).applyAccounts
	case "no_auth_user":
		return func(c *Config, n Node) error {
			s, err := n.String()
			c.Auth.NoAuthUser = s
			return err
		}
	case "operator", "operators", "root", "roots", "root_operator", "root_operators":
		return (*Config).applyOperators
	case "resolver", "account_resolver", "accounts_resolver":
		return (*Config).applyResolver
	case "system_account", "system":
		return func(c *Config, n Node) error {
			s, err := n.String()
			c.Auth.SystemAccount = s
			return err
		}
	}
	return nil
}

// FileTree is a parsed configuration file: its top-level keys (lower
// case, as nats-server matches them) and their values.
type FileTree map[string]Node

// Node is one value of a parsed configuration file and where it was
// written (for errors). V is what the conf package gives: string, int64
// (units applied), float64, bool, time.Time, []any or map[string]any;
// List and Map give the nested values as Nodes.
type Node struct {
	V    any
	File string
	Line int
}

// ParseFile parses the configuration file at path (includes relative to
// its folder).
func ParseFile(path string) (FileTree, error) {
	m, err := conf.ParseFileWithChecks(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return treeOf(m, path), nil
}

// parseTree parses configuration text; name stands for its file in errors.
func parseTree(data, name string) (FileTree, error) {
	m, err := conf.ParseWithChecks(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return treeOf(m, name), nil
}

func treeOf(m map[string]any, file string) FileTree {
	t := make(FileTree, len(m))
	for k, v := range m {
		t[strings.ToLower(k)] = nodeOf(v, file, 0)
	}
	return t
}

// positioned is what the conf package wraps each value in when it checks
// (its unexported token type).
type positioned interface {
	Value() any
	Line() int
	SourceFile() string
}

func nodeOf(v any, file string, line int) Node {
	if p, ok := v.(positioned); ok {
		if f := p.SourceFile(); f != "" {
			file = f
		}
		return Node{V: p.Value(), File: file, Line: p.Line()}
	}
	return Node{V: v, File: file, Line: line}
}

// Errorf is an error naming the node's place.
func (n Node) Errorf(format string, args ...any) error {
	if n.Line > 0 {
		return fmt.Errorf("%s:%d: %s", n.File, n.Line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s: %s", n.File, fmt.Sprintf(format, args...))
}

// Map returns a block's entries by lower-case key.
func (n Node) Map() (map[string]Node, error) {
	m, ok := n.V.(map[string]any)
	if !ok {
		return nil, n.Errorf("want a block { ... }, got %s", kind(n.V))
	}
	out := make(map[string]Node, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = nodeOf(v, n.File, n.Line)
	}
	return out, nil
}

// List returns a list's items; a single value is a list of one.
func (n Node) List() []Node {
	l, ok := n.V.([]any)
	if !ok {
		return []Node{n}
	}
	out := make([]Node, len(l))
	for i, v := range l {
		out[i] = nodeOf(v, n.File, n.Line)
	}
	return out
}

// String returns a string value.
func (n Node) String() (string, error) {
	s, ok := n.V.(string)
	if !ok {
		return "", n.Errorf("want a string, got %s", kind(n.V))
	}
	return s, nil
}

// Strings returns a list of strings (or a single string as one).
func (n Node) Strings() ([]string, error) {
	items := n.List()
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, err := it.String()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Int returns an integer value.
func (n Node) Int() (int64, error) {
	i, ok := n.V.(int64)
	if !ok {
		return 0, n.Errorf("want an integer, got %s", kind(n.V))
	}
	return i, nil
}

// Seconds reads a duration as nats-server does: a number is seconds, a
// string a Go duration ("2s", "1m").
func (n Node) Seconds() (time.Duration, error) {
	switch v := n.V.(type) {
	case int64:
		return time.Duration(v) * time.Second, nil
	case float64:
		return time.Duration(v * float64(time.Second)), nil
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, n.Errorf("%v", err)
		}
		return d, nil
	}
	return 0, n.Errorf("want a duration, got %s", kind(n.V))
}

// scalar renders a value for Set: lists joined with commas.
func (n Node) scalar() (string, error) {
	switch v := n.V.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		parts := make([]string, 0, len(v))
		for _, it := range n.List() {
			s, err := it.scalar()
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", n.Errorf("want a value, got %s", kind(n.V))
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a block"
	case []any:
		return "a list"
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// sortedKeys returns a block's keys in the order they were written (by
// line, then name), so that later lines win as they would read.
func sortedKeys(m map[string]Node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m[keys[i]], m[keys[j]]
		if a.File == b.File && a.Line != b.Line {
			return a.Line < b.Line
		}
		return keys[i] < keys[j]
	})
	return keys
}

// LoadFile applies the configuration file at path to c (see Apply).
func (c *Config) LoadFile(path string) error {
	t, err := ParseFile(path)
	if err != nil {
		return err
	}
	return c.Apply(t)
}

// load applies configuration text read from r (name is for errors).
func (c *Config) load(r io.Reader, name string) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	t, err := parseTree(string(data), name)
	if err != nil {
		return err
	}
	return c.Apply(t)
}

// Apply maps a parsed configuration file onto c: the blocks of fileBlock
// and the keys of fileKey by their functions, every other key through Set
// by its long flag name (port, http_port, max_payload, store_dir, ...). An
// unknown key or block is an error naming its file and line, so a typo is
// not silently ignored. A `jetstream { ... }` block also turns JetStream
// on.
func (c *Config) Apply(t FileTree) error {
	for _, key := range sortedKeys(t) {
		n := t[key]
		if _, isMap := n.V.(map[string]any); isMap {
			f := fileBlock(key)
			if f == nil {
				return n.Errorf("unknown block %q", key)
			}
			if err := f(c, n); err != nil {
				return err
			}
			continue
		}
		if f := fileKey(key); f != nil {
			if err := f(c, n); err != nil {
				return err
			}
			continue
		}
		if err := c.setNode(key, n); err != nil {
			return err
		}
	}
	return nil
}

// setNode applies one scalar (or list) value through Set.
func (c *Config) setNode(key string, n Node) error {
	s, err := n.scalar()
	if err != nil {
		return err
	}
	if err := c.Set(key, s); err != nil {
		return n.Errorf("%v", err)
	}
	return nil
}

// applyTLSNode maps a tls { } block (top level, or inside cluster where
// is "cluster") onto c with tlsconf's reading of nats-server's keys.
func (c *Config) applyTLSNode(where string, n Node) error {
	m, ok := n.V.(map[string]any)
	if !ok {
		return n.Errorf("tls must be a block, not %s", kind(n.V))
	}
	if err := ApplyTLSBlock(c, where, m); err != nil {
		return n.Errorf("%v", err)
	}
	return nil
}

// applyFlatBlock applies a block whose keys are long flag names under other
// names (blockKeys).
func (c *Config) applyFlatBlock(block string, n Node) error {
	m, err := n.Map()
	if err != nil {
		return err
	}
	if block == "jetstream" {
		c.JetStream = true
	}
	names := blockKeys(block)
	for _, k := range sortedKeys(m) {
		if block == "cluster" && k == "tls" {
			if err := c.applyTLSNode("cluster", m[k]); err != nil {
				return err
			}
			continue
		}
		flat, ok := names[k]
		if !ok {
			return m[k].Errorf("unknown setting %q in block %q", k, block)
		}
		if err := c.setNode(flat, m[k]); err != nil {
			return err
		}
	}
	return nil
}
