package app

import (
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/bargemq/barge/broker"
)

// JetStream in the system account's answers, in nats-server's shapes:
// /varz's "jetstream" object (JetStreamVarz: config, stats, meta) and the
// JSZ request (JSInfo with, as its body asks, one AccountDetail per account
// and its streams). `nats server info` and `nats server report jetstream`
// decode them with nats-server's types. The CONNZ request's options and
// /connz's query are here too.

// jszRequest are nats-server's JSzOptions that the JSZ request honours,
// from its JSON body.
type jszRequest struct {
	Account  string `json:"account,omitempty"`
	Accounts bool   `json:"accounts,omitempty"`
	Streams  bool   `json:"streams,omitempty"`
}

// jszBody reads a JSZ request's options from its body (none: defaults).
func jszBody(body []byte) jszOptions {
	var o jszRequest
	_ = json.Unmarshal(body, &o) // a bad body gets the defaults, as nats-server
	return jszOptions{accounts: o.Accounts, streams: o.Streams, acc: o.Account}
}

// sysBodyHandlers are the system requests answered from their body's
// options; they take the place of sysHandlers' entries of the same name.
func (a *App) sysBodyHandlers() map[string]func([]byte) any {
	return map[string]func([]byte) any{
		"CONNZ": func(b []byte) any { return a.broker.ConnzWith(connzBody(b)) },
		"JSZ":   func(b []byte) any { return a.jszDoc(jszBody(b)) },
	}
}

// connzBody reads a CONNZ request's options (none: every connection).
func connzBody(body []byte) broker.ConnzOptions {
	var o broker.ConnzOptions
	_ = json.Unmarshal(body, &o)
	return o
}

// connzQuery reads /connz's query: acc, user, cid, subs, offset, limit,
// filter_subject (nats-server's names).
func connzQuery(q url.Values) broker.ConnzOptions {
	num := func(k string) int { n, _ := strconv.Atoi(q.Get(k)); return n }
	cid, _ := strconv.ParseUint(q.Get("cid"), 10, 64)
	subs := q.Get("subs")
	return broker.ConnzOptions{
		Account: q.Get("acc"), User: q.Get("user"), CID: cid, FilterSubject: q.Get("filter_subject"),
		Subscriptions: subs == "true" || subs == "1" || subs == "detail",
		Offset:        max(num("offset"), 0), Limit: max(num("limit"), 0),
	}
}

// jsVarz is /varz's "jetstream" object ({} without JetStream, as
// nats-server).
func (a *App) jsVarz() map[string]any {
	if a.js == nil {
		return map[string]any{}
	}
	info := a.jszDoc(jszOptions{})
	doc := map[string]any{"config": info.Config, "stats": info.JSStats}
	if info.MetaCluster != nil {
		doc["meta"] = info.MetaCluster
	}
	return doc
}

// metaClusterInfo is nats-server's MetaClusterInfo of this node's meta
// shard; nil without one.
func (a *App) metaClusterInfo() map[string]any {
	j := a.metaRaft()
	if j == nil {
		return nil
	}
	size := a.cfg.ClusterSize
	m := map[string]any{"name": a.cfg.ClusterName, "cluster_size": size, "quorum_needed": size/2 + 1, "pending": 0}
	if id, ok := j.MetaLeader(); ok {
		m["leader"] = j.NodeName(id)
	}
	return m
}
