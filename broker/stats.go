package broker

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"runtime"
	"strconv"
	"time"
)

// Varz is the server summary served at /varz. Field names and JSON tags are
// nats-server's, so its tools read it unchanged.
type Varz struct {
	ID               string        `json:"server_id"`
	Name             string        `json:"server_name"`
	Version          string        `json:"version"`
	BargeVersion     string        `json:"barge_version"`
	Proto            int           `json:"proto"`
	GoVersion        string        `json:"go"`
	Host             string        `json:"host"`
	Port             int           `json:"port"`
	MaxControlLine   int           `json:"max_control_line"`
	MaxPayload       int64         `json:"max_payload"`
	PingInterval     time.Duration `json:"ping_interval"`
	MaxPingsOut      int           `json:"ping_max"`
	JetStream        bool          `json:"jetstream"`
	MaxConn          int           `json:"max_connections"`
	Start            time.Time     `json:"start"`
	Now              time.Time     `json:"now"`
	Uptime           string        `json:"uptime"`
	Cores            int           `json:"cores"`
	Connections      int           `json:"connections"`
	TotalConnections uint64        `json:"total_connections"`
	// RefusedConnections counts clients turned away at max_connections
	// (barge's own field).
	RefusedConnections int64  `json:"refused_connections"`
	InMsgs             int64  `json:"in_msgs"`
	InBytes            int64  `json:"in_bytes"`
	OutMsgs            int64  `json:"out_msgs"`
	OutBytes           int64  `json:"out_bytes"`
	SlowConsumers      int64  `json:"slow_consumers"`
	StaleConnections   int64  `json:"stale_connections"`
	Subscriptions      uint32 `json:"subscriptions"`
	// AuthRequired and AuthTimeout (seconds) are nats-server's;
	// AuthFailures (barge's own) counts refused logins and login
	// timeouts.
	AuthRequired bool    `json:"auth_required,omitempty"`
	AuthTimeout  float64 `json:"auth_timeout"`
	AuthFailures int64   `json:"auth_failures"`
}

// Connz lists the open client connections, as /connz does.
type Connz struct {
	ID       string      `json:"server_id"`
	Now      time.Time   `json:"now"`
	NumConns int         `json:"num_connections"`
	Total    int         `json:"total"`
	Offset   int         `json:"offset"`
	Limit    int         `json:"limit"`
	Conns    []*ConnInfo `json:"connections"`
}

// ConnInfo describes one client connection in Connz.
type ConnInfo struct {
	Cid      uint64    `json:"cid"`
	Kind     string    `json:"kind,omitempty"`
	Type     string    `json:"type,omitempty"`
	IP       string    `json:"ip"`
	Port     int       `json:"port"`
	Start    time.Time `json:"start"`
	Uptime   string    `json:"uptime"`
	Pending  int64     `json:"pending_bytes"`
	InMsgs   int64     `json:"in_msgs"`
	OutMsgs  int64     `json:"out_msgs"`
	InBytes  int64     `json:"in_bytes"`
	OutBytes int64     `json:"out_bytes"`
	NumSubs  uint32    `json:"subscriptions"`
	Name     string    `json:"name,omitempty"`
	Lang     string    `json:"lang,omitempty"`
	Version  string    `json:"version,omitempty"`
	// AuthorizedUser is the user the client logged in as.
	AuthorizedUser string `json:"authorized_user,omitempty"`
	// TLS fields, as nats-server's connz (set for TLS connections).
	TLSVersion   string         `json:"tls_version,omitempty"`
	TLSCipher    string         `json:"tls_cipher_suite,omitempty"`
	TLSPeerCerts []*TLSPeerCert `json:"tls_peer_certs,omitempty"`
	// TLSFirst: the handshake came before INFO (handshake_first).
	TLSFirst bool `json:"tls_first,omitempty"`
	// Account is the client's account.
	Account string `json:"account,omitempty"`
	// Subs are its subscriptions' subjects, when asked for
	// (ConnzOptions.Subscriptions).
	Subs []string `json:"subscriptions_list,omitempty"`
}

// TLSPeerCert describes a peer's certificate in /connz, as nats-server's.
type TLSPeerCert struct {
	Subject          string `json:"subject,omitempty"`
	SubjectPKISha256 string `json:"spki_sha256,omitempty"`
	CertSha256       string `json:"cert_sha256,omitempty"`
}

// tlsInfo fills ci's TLS fields when t came in over TLS.
func tlsInfo(ci *ConnInfo, t Transport) {
	ts, ok := t.(TLSStater)
	if !ok {
		return
	}
	st, ok := ts.TLSConnectionState()
	if !ok {
		return
	}
	switch st.Version {
	case tls.VersionTLS12:
		ci.TLSVersion = "1.2"
	case tls.VersionTLS13:
		ci.TLSVersion = "1.3"
	default:
		ci.TLSVersion = fmt.Sprintf("Unknown [0x%x]", st.Version)
	}
	ci.TLSCipher = tls.CipherSuiteName(st.CipherSuite)
	ci.TLSFirst = ts.TLSHandshakeFirst()
	for _, pc := range st.PeerCertificates {
		spki := sha256.Sum256(pc.RawSubjectPublicKeyInfo)
		sum := sha256.Sum256(pc.Raw)
		ci.TLSPeerCerts = append(ci.TLSPeerCerts, &TLSPeerCert{
			Subject:          pc.Subject.String(),
			SubjectPKISha256: hex.EncodeToString(spki[:]),
			CertSha256:       hex.EncodeToString(sum[:]),
		})
	}
}

// Varz returns a snapshot of the server's counters. Counters are read one
// by one, so a snapshot taken under traffic is not a single instant.
func (s *Server) Varz() Varz {
	now := s.opts.Clock.Now()
	s.mu.Lock()
	conns := len(s.mu.clients)
	s.mu.Unlock()
	lim := s.limits.Load()
	authn := s.authn.Load()
	v := Varz{
		ID:                 s.id,
		Name:               s.info.ServerName,
		Version:            NATSVersion,
		BargeVersion:       Version,
		Proto:              s.info.Proto,
		GoVersion:          runtime.Version(),
		Host:               s.opts.Host,
		Port:               s.opts.Port,
		MaxControlLine:     lim.MaxControlLine,
		MaxPayload:         lim.MaxPayload,
		PingInterval:       lim.PingInterval,
		MaxPingsOut:        lim.MaxPingsOut,
		JetStream:          s.opts.JetStream,
		MaxConn:            max(lim.MaxConnections, 0),
		Start:              s.start,
		Now:                now,
		Uptime:             formatUptime(now.Sub(s.start)),
		Cores:              runtime.NumCPU(),
		Connections:        conns,
		TotalConnections:   uint64(s.stats.totalConns.Load()),
		RefusedConnections: s.stats.refusedConns.Load(),
		InMsgs:             s.stats.inMsgs.Load(),
		InBytes:            s.stats.inBytes.Load(),
		OutMsgs:            s.stats.outMsgs.Load(),
		OutBytes:           s.stats.outBytes.Load(),
		SlowConsumers:      s.stats.slowConsumers.Load(),
		StaleConnections:   s.stats.staleConns.Load(),
		Subscriptions:      uint32(s.subscriptionCount()),
		AuthRequired:       authn.Required(),
		AuthFailures:       s.stats.authFailures.Load(),
	}
	if v.AuthRequired {
		v.AuthTimeout = authn.Timeout().Seconds()
	}
	return v
}

// Connz returns every open client connection, ordered by client id.
func (s *Server) Connz() Connz { return s.ConnzWith(ConnzOptions{}) }

func (c *client) connInfo(now time.Time) *ConnInfo {
	ci := &ConnInfo{
		Cid:      c.cid,
		Kind:     "Client",
		Type:     "nats",
		IP:       c.host,
		Port:     c.port,
		Start:    c.start,
		Uptime:   formatUptime(now.Sub(c.start)),
		Pending:  c.t.Pending(),
		InMsgs:   c.stats.inMsgs.Load(),
		OutMsgs:  c.stats.outMsgs.Load(),
		InBytes:  c.stats.inBytes.Load(),
		OutBytes: c.stats.outBytes.Load(),
	}
	c.mu.Lock()
	ci.NumSubs = uint32(len(c.mu.subs))
	ci.Name, ci.Lang, ci.Version = c.mu.name, c.mu.lang, c.mu.version
	ci.AuthorizedUser = c.mu.user
	c.mu.Unlock()
	tlsInfo(ci, c.t)
	ci.Account = c.account().name
	return ci
}

// formatUptime writes d the way nats-server's monitoring does: "1y2d3h4m5s",
// leaving out leading zero units, whole seconds only.
func formatUptime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int64(d / time.Second)
	units := []struct {
		suffix byte
		size   int64
	}{{'y', 365 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}}
	var b []byte
	for _, u := range units {
		if n := secs / u.size; n > 0 || len(b) > 0 {
			b = strconv.AppendInt(b, n, 10)
			b = append(b, u.suffix)
			secs -= n * u.size
		}
	}
	b = strconv.AppendInt(b, secs, 10)
	return string(append(b, 's'))
}
