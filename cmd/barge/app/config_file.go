package app

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// blockKeys maps the keys of a configuration file's blocks to the long flag
// names, the way nats-server's configuration names them:
//
//	cluster {
//	  name: barge-local              # cluster_name
//	  listen: 127.0.0.1:6222         # cluster
//	  advertise: 10.0.0.1:6222       # cluster_advertise
//	  routes: [                      # routes (a list: one line or several)
//	    nats://127.0.0.1:6223
//	    nats://127.0.0.1:6224
//	  ]
//	  raft: 127.0.0.1:7222           # raft
//	  raft_listen: 0.0.0.0:7222      # raft_listen
//	  node_id: 1                     # node_id
//	  size: 3                        # cluster_size
//	}
//	jetstream {
//	  store_dir: /var/lib/barge      # store_dir
//	  sync: always                   # sync
//	}
//
// A block key that is not listed here is an error, as an unknown top-level
// key is.
var blockKeys = map[string]map[string]string{
	"cluster": {
		"name": "cluster_name", "listen": "cluster", "advertise": "cluster_advertise",
		"routes": "routes", "raft": "raft", "raft_listen": "raft_listen",
		"node_id": "node_id", "size": "cluster_size",
	},
	"jetstream": {"store_dir": "store_dir", "sync": "sync", "enabled": "jetstream"},
}

// load applies a configuration file read from r (name is for errors): one
// `key: value` (or `key = value`) per line, `#` and `//` comments, values
// optionally quoted, lists in brackets over one line or several, and the
// `cluster { ... }` and `jetstream { ... }` blocks of blockKeys. A
// `jetstream { ... }` block also turns JetStream on.
func (c *Config) load(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	line := 0
	block := ""   // the block being read, "" at the top level
	listKey := "" // a bracketed list being read over several lines
	var list []string
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if i := strings.Index(s, "#"); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		if strings.HasPrefix(s, "//") || s == "" {
			continue
		}
		if listKey != "" {
			item, closed := strings.CutSuffix(s, "]")
			list = append(list, listItems(item)...)
			if closed {
				if err := c.setIn(block, listKey, strings.Join(list, ",")); err != nil {
					return fmt.Errorf("%s:%d: %w", name, line, err)
				}
				listKey, list = "", nil
			}
			continue
		}
		if s == "}" {
			if block == "" {
				return fmt.Errorf("%s:%d: `}` closes no block", name, line)
			}
			block = ""
			continue
		}
		if open, ok := strings.CutSuffix(s, "{"); ok {
			b := strings.ToLower(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(open), ":=")))
			if block != "" {
				return fmt.Errorf("%s:%d: block %q inside block %q", name, line, b, block)
			}
			if _, known := blockKeys[b]; !known {
				return fmt.Errorf("%s:%d: unknown block %q", name, line, b)
			}
			block = b
			if b == "jetstream" {
				c.JetStream = true
			}
			continue
		}
		i := strings.IndexAny(s, ":=")
		if i <= 0 {
			return fmt.Errorf("%s:%d: expected `key: value`", name, line)
		}
		key := strings.TrimSpace(s[:i])
		val := strings.TrimSpace(s[i+1:])
		if rest, ok := strings.CutPrefix(val, "["); ok {
			if items, closed := strings.CutSuffix(rest, "]"); closed {
				val = strings.Join(listItems(items), ",")
			} else {
				listKey, list = key, listItems(rest)
				continue
			}
		}
		if err := c.setIn(block, key, unquote(val)); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	switch {
	case listKey != "":
		return fmt.Errorf("%s: list %q is not closed with `]`", name, listKey)
	case block != "":
		return fmt.Errorf("%s: block %q is not closed with `}`", name, block)
	}
	return nil
}

// setIn applies key (a block key when block is set) through Set.
func (c *Config) setIn(block, key, val string) error {
	if block != "" {
		flat, ok := blockKeys[block][strings.ToLower(key)]
		if !ok {
			return fmt.Errorf("unknown setting %q in block %q", key, block)
		}
		key = flat
	}
	return c.Set(key, val)
}

// unquote drops the quotes around a value.
func unquote(s string) string { return strings.Trim(strings.TrimSpace(s), `"'`) }

// listItems splits the items of a bracketed list (commas or blanks between
// them) and unquotes each.
func listItems(s string) []string {
	items := splitList(s)
	for i, it := range items {
		items[i] = unquote(it)
	}
	return items
}
