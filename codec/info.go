package codec

import "encoding/json"

// Info is the JSON body of the INFO line a server sends first on every
// client connection. Field names are nats-server's, as nats.go reads them.
type Info struct {
	ServerID     string `json:"server_id"`
	ServerName   string `json:"server_name"`
	Version      string `json:"version"`
	Proto        int    `json:"proto"`
	GitCommit    string `json:"git_commit,omitempty"`
	Go           string `json:"go"`
	Host         string `json:"host"`
	Port         int    `json:"port"`
	Headers      bool   `json:"headers"`
	AuthRequired bool   `json:"auth_required,omitempty"`
	TLSRequired  bool   `json:"tls_required,omitempty"`
	TLSVerify    bool   `json:"tls_verify,omitempty"`
	TLSAvailable bool   `json:"tls_available,omitempty"`
	// MaxPayload is int64: barge's payloads go past 2 GiB; nats.go reads
	// this field as int64 too.
	MaxPayload  int64    `json:"max_payload"`
	JetStream   bool     `json:"jetstream"`
	ClientID    uint64   `json:"client_id"`
	ClientIP    string   `json:"client_ip"`
	Nonce       string   `json:"nonce,omitempty"`
	Cluster     string   `json:"cluster,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	ConnectURLs []string `json:"connect_urls,omitempty"`
	LameDuck    bool     `json:"ldm,omitempty"`
	// JSAPILevel is the JetStream API level the server supports.
	JSAPILevel int `json:"api_lvl,omitempty"`
}

// AppendInfo appends "INFO <json>\r\n" for in to dst and returns the
// extended slice. in is only read. It allocates (JSON encoding), which is
// fine once per connection; it cannot fail, as Info holds only plain
// fields.
func AppendInfo(dst []byte, in *Info) []byte {
	js, err := json.Marshal(in)
	if err != nil {
		// Unreachable: every field of Info encodes.
		panic("codec: encoding Info: " + err.Error())
	}
	dst = append(dst, "INFO "...)
	dst = append(dst, js...)
	return append(dst, "\r\n"...)
}
