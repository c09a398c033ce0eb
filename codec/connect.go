package codec

import (
	"encoding/json"
	"errors"
)

// ConnectOptions is the JSON body of a client's CONNECT line. Field names
// are nats-server's, as nats.go writes them.
type ConnectOptions struct {
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	TLSRequired  bool   `json:"tls_required"`
	Name         string `json:"name"`
	Lang         string `json:"lang"`
	Version      string `json:"version"`
	Protocol     int    `json:"protocol"`
	Echo         bool   `json:"echo"`
	Headers      bool   `json:"headers"`
	NoResponders bool   `json:"no_responders"`
	User         string `json:"user,omitempty"`
	Pass         string `json:"pass,omitempty"`
	AuthToken    string `json:"auth_token,omitempty"`
	Sig          string `json:"sig,omitempty"`
	JWT          string `json:"jwt,omitempty"`
	Nkey         string `json:"nkey,omitempty"`
}

// errEmptyConnect is returned by ParseConnect for a CONNECT without a body.
var errEmptyConnect = errors.New("codec: CONNECT without a JSON object")

// ParseConnect decodes the JSON object of a CONNECT line (as handed to
// Handler.Connect; b is only read, not retained). Fields that are absent
// keep their zero value, except Echo, which is true unless the client sends
// "echo": false, as in nats-server. Unknown fields are ignored. It returns
// a JSON decoding error (not a *ProtoError) for anything that is not one
// JSON object; nats-server closes such a connection without an -ERR.
func ParseConnect(b []byte) (ConnectOptions, error) {
	o := ConnectOptions{Echo: true}
	if len(b) == 0 {
		return o, errEmptyConnect
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return ConnectOptions{Echo: true}, err
	}
	return o, nil
}
