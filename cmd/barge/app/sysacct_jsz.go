package app

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream"
	"github.com/bargemq/barge/codec/jsapi"
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

// jszBody reads jszRequest from a system request's body (none: defaults).
func jszBody(body []byte) jszRequest {
	var o jszRequest
	_ = json.Unmarshal(body, &o) // a bad body gets the defaults, as nats-server
	return o
}

// sysBodyHandlers are the system requests answered from their body's
// options; they take the place of sysHandlers' entries of the same name.
func (a *App) sysBodyHandlers() map[string]func([]byte) any {
	return map[string]func([]byte) any{
		"CONNZ": func(b []byte) any { return a.broker.ConnzWith(connzBody(b)) },
		"JSZ":   func(b []byte) any { return a.jszReport(jszBody(b)) },
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

// jsStats is nats-server's JetStreamStats.
type jsStats struct {
	Memory         uint64     `json:"memory"`
	Store          uint64     `json:"storage"`
	ReservedMemory uint64     `json:"reserved_memory"`
	ReservedStore  uint64     `json:"reserved_storage"`
	Accounts       int        `json:"accounts"`
	HAAssets       int        `json:"ha_assets"`
	API            jsapiStats `json:"api"`
}

type jsapiStats struct {
	Level  int    `json:"level"`
	Total  uint64 `json:"total"`
	Errors uint64 `json:"errors"`
}

// jsConfig is nats-server's JetStreamConfig.
type jsConfig struct {
	MaxMemory    int64         `json:"max_memory"`
	MaxStore     int64         `json:"max_storage"`
	StoreDir     string        `json:"store_dir,omitempty"`
	SyncInterval time.Duration `json:"sync_interval,omitempty"`
	SyncAlways   bool          `json:"sync_always,omitempty"`
}

// accountReport is one account's engine report, by account name.
type accountReport struct {
	name string
	r    jetstream.Report
}

// jsReports are the engines' reports, the global account first, then by
// name; only the account named, when acc is not "".
func (a *App) jsReports(acc string, details bool) []accountReport {
	names := []string{broker.GlobalAccountName}
	for name := range a.accountEngines() {
		names = append(names, name)
	}
	slices.SortFunc(names[1:], strings.Compare)
	var out []accountReport
	for _, name := range names {
		if acc != "" && name != acc {
			continue
		}
		if e := a.AccountJetStream(name); e != nil {
			out = append(out, accountReport{name, e.Report(details)})
		}
	}
	return out
}

// jsConfigDoc is the server's JetStream config: no server-wide limits
// (-1 would read as 16 EiB in the CLI: nats-server reports the limits it
// computed, barge has none, so 0).
func (a *App) jsConfigDoc() jsConfig {
	c := jsConfig{StoreDir: a.cfg.StoreDir, SyncAlways: a.cfg.SyncInterval <= 0}
	if a.cfg.SyncInterval > 0 {
		c.SyncInterval = a.cfg.SyncInterval
	}
	return c
}

// jsTotals sums reports into nats-server's JetStreamStats.
func jsTotals(rs []accountReport) (jsStats, jetstream.Report) {
	st := jsStats{Accounts: len(rs), API: jsapiStats{Level: jsapi.BargeAPILevel}}
	var sum jetstream.Report
	for _, x := range rs {
		r := x.r
		st.Memory += r.Memory
		st.Store += r.Store
		st.API.Total += r.APITotal
		st.API.Errors += r.APIErrors
		sum.Streams += r.Streams
		sum.Consumers += r.Consumers
		sum.Messages += r.Messages
		sum.Bytes += r.Bytes
		sum.StreamsLeader += r.StreamsLeader
	}
	return st, sum
}

// jsVarz is /varz's "jetstream" object ({} without JetStream, as
// nats-server).
func (a *App) jsVarz() map[string]any {
	if a.js == nil {
		return map[string]any{}
	}
	st, _ := jsTotals(a.jsReports("", false))
	doc := map[string]any{"config": a.jsConfigDoc(), "stats": st}
	if m := a.metaClusterInfo(); m != nil {
		doc["meta"] = m
	}
	return doc
}

// jszReport is the JSZ request's answer: this server's JetStream usage,
// in total and (accounts, or acc) by account.
func (a *App) jszReport(o jszRequest) map[string]any {
	doc := map[string]any{"server_id": a.broker.ID(), "now": time.Now().UTC(), "disabled": a.js == nil}
	if a.js == nil {
		return doc
	}
	rs := a.jsReports(o.Account, o.Streams)
	st, sum := jsTotals(a.jsReports("", false))
	doc["memory"], doc["storage"], doc["reserved_memory"], doc["reserved_storage"] = st.Memory, st.Store, 0, 0
	doc["accounts"], doc["ha_assets"], doc["api"] = st.Accounts, 0, st.API
	doc["config"] = a.jsConfigDoc()
	doc["streams"], doc["consumers"], doc["messages"], doc["bytes"] = sum.Streams, sum.Consumers, sum.Messages, sum.Bytes
	if sum.StreamsLeader > 0 {
		doc["streams_leader"] = sum.StreamsLeader
	}
	if m := a.metaClusterInfo(); m != nil {
		doc["meta_cluster"] = m
	}
	if !o.Accounts && o.Account == "" {
		doc["total"] = 0
		return doc
	}
	details := make([]map[string]any, 0, len(rs))
	for _, x := range rs {
		one, _ := jsTotals([]accountReport{x})
		d := map[string]any{
			"name": x.name, "id": x.name, "memory": one.Memory, "storage": one.Store,
			"reserved_memory": 0, "reserved_storage": 0, "accounts": 1, "ha_assets": 0, "api": one.API,
		}
		if o.Streams {
			streams := make([]map[string]any, 0, len(x.r.Details))
			for _, si := range x.r.Details {
				s := map[string]any{"name": si.Config.Name, "created": si.Created, "state": si.State}
				if si.Cluster != nil {
					s["cluster"] = si.Cluster
				}
				streams = append(streams, s)
			}
			d["stream_detail"] = streams
		}
		details = append(details, d)
	}
	doc["account_details"], doc["total"] = details, len(details)
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
