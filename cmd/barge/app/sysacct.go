package app

import (
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/internal/procmem"
)

// The system account (system_account, "$SYS" by default) serves the
// server requests the nats CLI sends (`nats server list`, `nats server
// info`, `nats server report connections`):
//
//	$SYS.REQ.SERVER.PING                 STATSZ of every server
//	$SYS.REQ.SERVER.PING.<NAME>          <NAME> of every server
//	$SYS.REQ.SERVER.<server id>.<NAME>   <NAME> of one server
//
// with <NAME> one of IDZ, STATSZ, VARZ, CONNZ, ROUTEZ, SUBSZ, ACCOUNTZ,
// JSZ and HEALTHZ (CONNZ and JSZ with nats-server's options in the body,
// sysBodyHandlers). The subscriptions are routed, so a PING reaches every member
// of a cluster and each answers. Answers are nats-server's shapes:
// {"server": {...}, "statsz": {...}} for STATSZ, {"server": {...},
// "data": {...}} for the others. A user reaches them by logging in to the
// system account (an account of the accounts block named by
// system_account). The monitoring port serves /accountz, /subsz and /jsz
// too. Each client's connect and disconnect is published in the system
// account on $SYS.ACCOUNT.<account>.CONNECT and .DISCONNECT (advisories
// client_connect, client_disconnect); periodic STATSZ events are not.

// systemAccountName is the configured system account or "$SYS".
func (a *App) systemAccountName() string {
	if s := a.cfg.Auth.SystemAccount; s != "" {
		return s
	}
	return "$SYS"
}

// sysHandlers are the request names and what answers them.
func (a *App) sysHandlers() map[string]func() any {
	return map[string]func() any{
		"IDZ":      func() any { return map[string]string{"server_id": a.broker.ID(), "server_name": a.serverName()} },
		"VARZ":     func() any { return a.varz() },
		"CONNZ":    func() any { return a.broker.Connz() },
		"ROUTEZ":   func() any { return a.routez() },
		"ACCOUNTZ": func() any { return a.accountz("") },
		"JSZ":      func() any { return a.jszDoc(jszOptions{accounts: true}) },
		"SUBSZ":    func() any { z, _ := a.broker.Subsz(broker.SubszOptions{}); return z },
		"HEALTHZ": func() any {
			if err := a.Health(); err != nil {
				return map[string]string{"status": "unavailable", "error": err.Error()}
			}
			return map[string]string{"status": "ok"}
		},
	}
}

// startSystemAccount subscribes the server requests in the system
// account.
func (a *App) startSystemAccount() error {
	sys := a.broker.Account(a.systemAccountName())
	var seq atomic.Uint64
	answer := func(reply, body []byte, name string, f func([]byte) any) {
		if len(reply) == 0 || !a.sysReady.Load() {
			return
		}
		reply = append([]byte(nil), reply...)
		body = append([]byte(nil), body...)
		// Off the publisher's event loop: the figures take locks and
		// read memory statistics.
		go func() {
			info := a.sysServerInfo(seq.Add(1))
			var v any
			if name == "STATSZ" {
				v = map[string]any{"server": info, "statsz": a.statsz()}
			} else {
				v = map[string]any{"server": info, "data": f(body)}
			}
			b, err := json.Marshal(v)
			if err != nil {
				return
			}
			sys.Deliver(reply, nil, nil, b)
		}()
	}
	a.broker.SetConnEventHandler(func(ev *broker.ConnEvent) {
		a.connEvent(sys, ev, seq.Add(1))
	})
	a.installUserInfo()
	handlers := a.sysHandlers()
	handlers["STATSZ"] = nil
	withBody := a.sysBodyHandlers()
	sub := func(subj, name string, f func() any) error {
		h := withBody[name]
		if h == nil && f != nil {
			h = func([]byte) any { return f() }
		}
		_, err := sys.SubscribeInternalRouted(subj, func(m *broker.InternalMsg) { answer(m.Reply, m.Data, name, h) })
		return err
	}
	if err := sub("$SYS.REQ.SERVER.PING", "STATSZ", nil); err != nil {
		return err
	}
	for name, f := range handlers {
		if err := sub("$SYS.REQ.SERVER.PING."+name, name, f); err != nil {
			return err
		}
		if err := sub("$SYS.REQ.SERVER."+a.broker.ID()+"."+name, name, f); err != nil {
			return err
		}
	}
	return nil
}

// connEvent publishes a client's connect or disconnect in the system
// account, as nats-server's advisories on $SYS.ACCOUNT.<account>.CONNECT
// and .DISCONNECT.
func (a *App) connEvent(sys *broker.Account, ev *broker.ConnEvent, seq uint64) {
	start := ev.Start.UTC()
	client := map[string]any{
		"start": start, "host": ev.Host, "id": ev.CID, "acc": ev.Account, "user": ev.User,
		"name": ev.Name, "lang": ev.Lang, "ver": ev.Version, "server": a.serverName(), "kind": "Client", "client_type": "nats",
	}
	typ, what := "io.nats.server.advisory.v1.client_connect", "CONNECT"
	msg := map[string]any{"server": a.sysServerInfo(seq), "client": client}
	if !ev.Connect {
		typ, what = "io.nats.server.advisory.v1.client_disconnect", "DISCONNECT"
		stop := ev.Stop.UTC()
		client["stop"] = stop
		msg["sent"] = map[string]int64{"msgs": ev.OutMsgs, "bytes": ev.OutBytes}
		msg["received"] = map[string]int64{"msgs": ev.InMsgs, "bytes": ev.InBytes}
		msg["reason"] = ev.Reason
	}
	msg["type"], msg["id"], msg["timestamp"] = typ, a.broker.ID()+"-"+strconv.FormatUint(seq, 10), time.Now().UTC()
	b, err := json.Marshal(msg)
	if err != nil {
		return
	}
	sys.Deliver([]byte("$SYS.ACCOUNT."+ev.Account+"."+what), nil, nil, b)
}

// serverName is the server_name, or the id when none is set.
func (a *App) serverName() string {
	if a.cfg.ServerName != "" {
		return a.cfg.ServerName
	}
	return a.broker.ID()
}

// sysServerInfo is the "server" object of a system answer.
func (a *App) sysServerInfo(seq uint64) map[string]any {
	host := a.cfg.Host
	if host == "" {
		host = "0.0.0.0"
	}
	info := map[string]any{
		"name": a.serverName(), "host": host, "id": a.broker.ID(), "ver": broker.NATSVersion,
		"jetstream": a.js != nil, "flags": 0, "seq": seq, "time": time.Now().UTC(),
	}
	if a.js != nil {
		info["flags"] = 1 // JetStreamEnabled
	}
	if a.cfg.Cluster != "" {
		info["cluster"] = a.cfg.ClusterName
	}
	return info
}

// statsz is nats-server's ServerStats, from what barge counts.
func (a *App) statsz() map[string]any {
	v := a.broker.Varz()
	rss, _ := procmem.RSS()
	msgBytes := func(m, b int64) map[string]int64 { return map[string]int64{"msgs": m, "bytes": b} }
	active := 0
	for _, acc := range a.broker.Accounts() {
		if acc.Sublist().Count() > 0 {
			active++
		}
	}
	st := map[string]any{
		"start": v.Start, "mem": rss, "cores": runtime.NumCPU(), "cpu": 0,
		"connections": v.Connections, "total_connections": v.TotalConnections,
		"active_accounts": active, "subscriptions": v.Subscriptions,
		"sent": msgBytes(v.OutMsgs, v.OutBytes), "received": msgBytes(v.InMsgs, v.InBytes),
		"slow_consumers": v.SlowConsumers,
	}
	if a.cluster != nil {
		rz := a.routez()
		routes := make([]map[string]any, 0, len(rz.Routes))
		for _, r := range rz.Routes {
			routes = append(routes, map[string]any{
				"rid": r.Rid, "name": r.RemoteName,
				"sent":     msgBytes(r.OutMsgs, r.OutBytes),
				"received": msgBytes(r.InMsgs, r.InBytes),
			})
		}
		st["routes"] = routes
		st["active_servers"] = len(rz.Routes) + 1
	}
	return st
}

// accountz is /accountz: the accounts this server knows, or with acc the
// details of one.
func (a *App) accountz(acc string) map[string]any {
	doc := map[string]any{
		"server_id": a.broker.ID(), "now": time.Now().UTC(),
		"system_account": a.systemAccountName(),
	}
	conns := map[string]int{}
	for _, c := range a.broker.Connz().Conns {
		conns[c.Account]++
	}
	if acc == "" {
		var names []string
		for _, x := range a.broker.Accounts() {
			names = append(names, x.Name())
		}
		slices.Sort(names)
		doc["accounts"] = names
		return doc
	}
	for _, x := range a.broker.Accounts() {
		if x.Name() != acc {
			continue
		}
		detail := map[string]any{
			"account_name": acc, "is_system": acc == a.systemAccountName(),
			"jetstream_enabled": a.AccountJetStream(acc) != nil,
			"num_connections":   conns[acc], "num_subscriptions": x.Sublist().Count(),
		}
		for _, ac := range a.accountConfigs() {
			if ac.Name != acc {
				continue
			}
			var exports, imports []map[string]any
			for _, e := range ac.Exports {
				exports = append(exports, map[string]any{"subject": e.Subject, "type": kindOf(e.Service), "accounts": e.Accounts})
			}
			for _, im := range ac.Imports {
				imports = append(imports, map[string]any{"subject": im.Subject, "account": im.Account, "type": kindOf(im.Service), "to": im.To, "prefix": im.Prefix})
			}
			detail["exports"], detail["imports"] = exports, imports
		}
		doc["account_detail"] = detail
		return doc
	}
	doc["error"] = "account " + acc + " not found"
	return doc
}

func kindOf(service bool) string {
	if service {
		return "service"
	}
	return "stream"
}
