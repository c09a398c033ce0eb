package app

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream"
	"github.com/bargemq/barge/codec/jsapi"
)

// /jsz and /subsz with nats-server's shapes and query options, as far as
// barge has the figures.

// JSInfo is the /jsz document (nats-server's JSInfo).
type JSInfo struct {
	JSStats
	ID             string           `json:"server_id"`
	Now            time.Time        `json:"now"`
	Disabled       bool             `json:"disabled,omitempty"`
	Config         JSConfig         `json:"config"`
	Streams        int              `json:"streams"`
	Consumers      int              `json:"consumers"`
	Messages       uint64           `json:"messages"`
	Bytes          uint64           `json:"bytes"`
	AccountDetails []*AccountDetail `json:"account_details,omitempty"`
	Total          int              `json:"total"`
	// StreamsLeader counts the replicated streams this node leads;
	// MetaCluster is the meta shard (nats-server's MetaClusterInfo).
	StreamsLeader int            `json:"streams_leader,omitempty"`
	MetaCluster   map[string]any `json:"meta_cluster,omitempty"`
}

// JSStats are nats-server's JetStreamStats: usage and API counters.
type JSStats struct {
	Memory         uint64         `json:"memory"`
	Store          uint64         `json:"storage"`
	ReservedMemory uint64         `json:"reserved_memory"`
	ReservedStore  uint64         `json:"reserved_storage"`
	Accounts       int            `json:"accounts"`
	HAAssets       int            `json:"ha_assets"`
	API            jsapi.APIStats `json:"api"`
}

// JSConfig is nats-server's JetStreamConfig: the limits (-1: none), the
// store directory and the sync policy.
type JSConfig struct {
	MaxMemory    int64         `json:"max_memory"`
	MaxStore     int64         `json:"max_storage"`
	StoreDir     string        `json:"store_dir,omitempty"`
	SyncInterval time.Duration `json:"sync_interval,omitempty"`
	SyncAlways   bool          `json:"sync_always,omitempty"`
}

// AccountDetail is one account's part of /jsz (accounts=true).
type AccountDetail struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	JSStats
	Streams []StreamDetail `json:"stream_detail,omitempty"`
}

// StreamDetail is one stream in an account's detail (streams=true;
// config=true adds its config and its consumers' configs).
type StreamDetail struct {
	Name     string                    `json:"name"`
	Created  time.Time                 `json:"created"`
	Cluster  *jsapi.ClusterInfo        `json:"cluster,omitempty"`
	Config   *jsapi.StreamConfig       `json:"config,omitempty"`
	State    jsapi.StreamState         `json:"state"`
	Consumer []*jsapi.ConsumerInfo     `json:"consumer_detail,omitempty"`
	Mirror   *jsapi.StreamSourceInfo   `json:"mirror,omitempty"`
	Sources  []*jsapi.StreamSourceInfo `json:"sources,omitempty"`
}

// jsAccount is one account's JetStream, as /jsz lists it.
type jsAccount struct {
	name string
	js   *jetstream.Engine
}

// jszAccounts lists the accounts with JetStream, the global account's
// first, the others by name.
func (a *App) jszAccounts() []jsAccount {
	var out []jsAccount
	if a.js != nil {
		out = append(out, jsAccount{name: auth.GlobalAccount, js: a.js})
	}
	engines := a.accountEngines()
	for _, name := range slices.Sorted(maps.Keys(engines)) {
		out = append(out, jsAccount{name: name, js: engines[name]})
	}
	return out
}

// jszOptions are /jsz's query options (the system account's JSZ request
// takes the defaults).
type jszOptions struct {
	accounts, streams, consumers, config bool
	acc                                  string // acc=<name>: one account's detail
	offset, limit                        int    // the page of account details
}

func (a *App) serveJsz(w http.ResponseWriter, r *http.Request) {
	var opt jszOptions
	for _, b := range []struct {
		name string
		v    *bool
	}{{"accounts", &opt.accounts}, {"streams", &opt.streams}, {"consumers", &opt.consumers}, {"config", &opt.config}} {
		if !queryBool(w, r, b.name, b.v) {
			return
		}
	}
	var ok1, ok2 bool
	opt.offset, ok1 = queryInt(w, r, "offset")
	opt.limit, ok2 = queryInt(w, r, "limit")
	if !ok1 || !ok2 {
		return
	}
	opt.acc = r.URL.Query().Get("acc")
	writeJSON(w, a.jszDoc(opt))
}

// jszDoc is the /jsz document for opt.
func (a *App) jszDoc(opt jszOptions) JSInfo {
	acc, offset, limit := opt.acc, opt.offset, opt.limit
	if opt.consumers {
		opt.streams = true
	}
	if opt.streams && acc == "" {
		opt.accounts = true
	}
	info := JSInfo{ID: a.broker.ID(), Now: time.Now().UTC()}
	accounts := a.jszAccounts()
	if len(accounts) == 0 {
		info.Disabled = true
		return info
	}
	u0 := accounts[0].js.Usage()
	info.MetaCluster = a.metaClusterInfo()
	info.Config = JSConfig{
		MaxMemory: max(u0.MaxMemory, 0), MaxStore: max(u0.MaxStore, 0),
		StoreDir: a.cfg.StoreDir, SyncInterval: a.cfg.SyncInterval, SyncAlways: u0.SyncAlways,
	}
	info.Total = len(accounts)
	details := make([]*AccountDetail, 0, len(accounts))
	for _, ja := range accounts {
		u := ja.js.Usage()
		st := JSStats{Memory: u.Memory, Store: u.Store, Accounts: 1, HAAssets: u.Replicated,
			API: jsapi.APIStats{Level: jsapi.BargeAPILevel, Total: u.APITotal, Errors: u.APIErrors}}
		info.Memory += st.Memory
		info.Store += st.Store
		info.Accounts++
		info.HAAssets += st.HAAssets
		info.API.Level = st.API.Level
		info.API.Total += st.API.Total
		info.API.Errors += st.API.Errors
		info.Streams += u.Streams
		info.Consumers += u.Consumers
		info.Messages += u.Messages
		info.Bytes += u.Bytes
		info.StreamsLeader += u.StreamsLeader
		if acc != "" && acc != ja.name || acc == "" && !opt.accounts {
			continue
		}
		d := &AccountDetail{Name: ja.name, ID: ja.name, JSStats: st}
		d.Accounts = 0
		if opt.streams {
			for _, sr := range ja.js.StreamReports(opt.consumers) {
				d.Streams = append(d.Streams, streamDetail(sr, opt.config))
			}
		}
		details = append(details, d)
	}
	if acc == "" {
		lo := min(max(offset, 0), len(details))
		if limit <= 0 {
			limit = 1024
		}
		details = details[lo : lo+min(limit, len(details)-lo)]
	}
	info.AccountDetails = details
	return info
}

// streamDetail is sr in /jsz's form; without config, the stream's and its
// consumers' configs are left out, as in nats-server.
func streamDetail(sr jetstream.StreamReport, config bool) StreamDetail {
	si := sr.Info
	d := StreamDetail{Name: si.Config.Name, Created: si.Created, Cluster: si.Cluster, State: si.State,
		Mirror: si.Mirror, Sources: si.Sources}
	if config {
		d.Config = &si.Config
	}
	for _, ci := range sr.Consumers {
		if !config {
			c := *ci
			c.Config = nil
			ci = &c
		}
		d.Consumer = append(d.Consumer, ci)
	}
	return d
}

func (a *App) serveSubsz(w http.ResponseWriter, r *http.Request) {
	var o broker.SubszOptions
	if !queryBool(w, r, "subs", &o.Subscriptions) {
		return
	}
	var ok1, ok2 bool
	o.Offset, ok1 = queryInt(w, r, "offset")
	o.Limit, ok2 = queryInt(w, r, "limit")
	if !ok1 || !ok2 {
		return
	}
	o.Test, o.Account = r.URL.Query().Get("test"), r.URL.Query().Get("acc")
	z, err := a.broker.Subsz(o)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(err.Error()))
		return
	}
	writeJSON(w, z)
}

// queryBool reads a boolean query parameter (absent: false) into v; a
// value strconv.ParseBool does not take answers 400 as nats-server does,
// and queryBool reports false.
func queryBool(w http.ResponseWriter, r *http.Request, name string, v *bool) bool {
	s := r.URL.Query().Get(name)
	if s == "" {
		return true
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Error decoding boolean for '" + name + "': " + err.Error()))
		return false
	}
	*v = b
	return true
}

// queryInt reads an integer query parameter (absent: 0), answering 400
// for anything else.
func queryInt(w http.ResponseWriter, r *http.Request, name string) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Error decoding int for '" + name + "': " + err.Error()))
		return 0, false
	}
	return n, true
}
