package tlsconf

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of nats-server's tls block.
const (
	// DefaultTimeout bounds a TLS handshake (nats-server's TLS_TIMEOUT).
	DefaultTimeout = 2 * time.Second
	// DefaultHandshakeFirstFallback is how long a handshake_first: auto
	// server waits for the client's TLS hello before it sends INFO in the
	// clear (nats-server's default fallback delay).
	DefaultHandshakeFirstFallback = 50 * time.Millisecond
)

// Options is one TLS setting: the client port's, the cluster's or the
// monitoring port's. The zero value is TLS off.
type Options struct {
	// Enabled is true once any TLS setting is given.
	Enabled bool
	// CertFile and KeyFile are the PEM certificate chain and key served.
	CertFile, KeyFile string
	// CAFile is the PEM bundle peers' certificates are verified against
	// (clients' with Verify, the other nodes' on routes and raft); empty is
	// the system pool.
	CAFile string
	// Verify requires a client certificate signed by CAFile.
	Verify bool
	// VerifyAndMap is Verify, with the certificate's subject or a SAN
	// naming the user (authentication maps it).
	VerifyAndMap bool
	// Timeout bounds the handshake; 0 is DefaultTimeout.
	Timeout time.Duration
	// HandshakeFirst makes the server start TLS before it sends INFO.
	// With HandshakeFirstFallback > 0 ("auto" or a duration), a client that
	// sends nothing within that time gets INFO in the clear and upgrades as
	// usual.
	HandshakeFirst         bool
	HandshakeFirstFallback time.Duration
	// MinVersion is the lowest TLS version accepted; 0 is TLS 1.2.
	MinVersion uint16
	// CipherSuites and CurvePreferences restrict the handshake; empty is
	// Go's defaults.
	CipherSuites     []uint16
	CurvePreferences []tls.CurveID
}

// RequireClientCert reports whether peers must present a certificate.
func (o Options) RequireClientCert() bool { return o.Verify || o.VerifyAndMap }

// HandshakeTimeout is Timeout or its default.
func (o Options) HandshakeTimeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// Validate reports a setting that cannot work.
func (o *Options) Validate() error {
	if !o.Enabled {
		return nil
	}
	if o.CertFile == "" || o.KeyFile == "" {
		return fmt.Errorf("tls: cert_file and key_file are both required")
	}
	if o.RequireClientCert() && o.CAFile == "" {
		return fmt.Errorf("tls: verify needs ca_file")
	}
	return nil
}

// FromMap maps a `tls { }` block as nats-server's conf package returns it
// (strings, bools, int64, float64, []any; values wrapped with their
// position, as conf.ParseFileWithChecks gives them, are unwrapped). Unknown
// keys are an error, so a security setting barge does not implement is
// never silently dropped.
func FromMap(m map[string]any) (Options, error) {
	o := Options{Enabled: true}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := o.set(strings.ToLower(k), unwrap(m[k])); err != nil {
			return o, fmt.Errorf("tls %s: %w", k, err)
		}
	}
	return o, o.Validate()
}

func (o *Options) set(k string, v any) error {
	var err error
	switch k {
	case "cert_file":
		o.CertFile, err = str(v)
	case "key_file":
		o.KeyFile, err = str(v)
	case "ca_file":
		o.CAFile, err = str(v)
	case "verify":
		o.Verify, err = boolean(v)
	case "verify_and_map":
		o.VerifyAndMap, err = boolean(v)
	case "timeout":
		o.Timeout, err = seconds(v)
	case "handshake_first", "first":
		o.HandshakeFirst, o.HandshakeFirstFallback, err = handshakeFirst(v)
	case "min_version":
		o.MinVersion, err = version(v)
	case "cipher_suites":
		o.CipherSuites, err = ciphers(v)
	case "curve_preferences":
		o.CurvePreferences, err = curves(v)
	default:
		return fmt.Errorf("not supported by barge")
	}
	return err
}

// unwrap returns the plain value of a conf token (anything with a
// Value() any method), lists included.
func unwrap(v any) any {
	if t, ok := v.(interface{ Value() any }); ok {
		v = t.Value()
	}
	if l, ok := v.([]any); ok {
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = unwrap(e)
		}
		return out
	}
	return v
}

func str(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %T", v)
	}
	return s, nil
}

func boolean(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		return strconv.ParseBool(b)
	}
	return false, fmt.Errorf("want true or false, got %T", v)
}

// seconds reads nats-server's timeout: a number of seconds (fractions
// allowed) or a duration string.
func seconds(v any) (time.Duration, error) {
	switch t := v.(type) {
	case int64:
		return time.Duration(t) * time.Second, nil
	case int:
		return time.Duration(t) * time.Second, nil
	case float64:
		return time.Duration(t * float64(time.Second)), nil
	case string:
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return time.Duration(f * float64(time.Second)), nil
		}
		return time.ParseDuration(t)
	}
	return 0, fmt.Errorf("want seconds, got %T", v)
}

// handshakeFirst reads true/false, "auto" (fallback after the default
// delay) or a duration (fallback after it).
func handshakeFirst(v any) (bool, time.Duration, error) {
	if b, ok := v.(bool); ok {
		return b, 0, nil
	}
	s, ok := v.(string)
	if !ok {
		return false, 0, fmt.Errorf("want true, false, auto or a duration, got %T", v)
	}
	switch strings.ToLower(s) {
	case "true", "on", "yes":
		return true, 0, nil
	case "false", "off", "no":
		return false, 0, nil
	case "auto", "auto_fallback":
		return true, DefaultHandshakeFirstFallback, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("want true, false, auto or a duration, got %q", s)
	}
	return true, d, nil
}

func version(v any) (uint16, error) {
	s, err := str(v)
	if err != nil {
		return 0, err
	}
	switch strings.TrimPrefix(strings.ToLower(s), "tls") {
	case "1.2", "12", "v1.2":
		return tls.VersionTLS12, nil
	case "1.3", "13", "v1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unsupported TLS version %q (1.2 or 1.3)", s)
}

func strList(v any) ([]string, error) {
	switch l := v.(type) {
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, err := str(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return l, nil
	case string:
		return []string{l}, nil
	}
	return nil, fmt.Errorf("want a list of names, got %T", v)
}

// ciphers maps suite names (Go's and IANA's, which are the same, as
// nats-server uses) to ids. Insecure suites are refused.
func ciphers(v any) ([]uint16, error) {
	names, err := strList(v)
	if err != nil {
		return nil, err
	}
	out := make([]uint16, 0, len(names))
	for _, n := range names {
		id, ok := uint16(0), false
		for _, cs := range tls.CipherSuites() {
			if strings.EqualFold(cs.Name, n) {
				id, ok = cs.ID, true
			}
		}
		if !ok {
			return nil, fmt.Errorf("unknown or insecure cipher suite %q", n)
		}
		out = append(out, id)
	}
	return out, nil
}

// curves maps curve names (CurveP256, CurveP384, CurveP521, X25519,
// X25519MLKEM768) to ids.
func curves(v any) ([]tls.CurveID, error) {
	names, err := strList(v)
	if err != nil {
		return nil, err
	}
	known := []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.CurveP521, tls.X25519, tls.X25519MLKEM768}
	out := make([]tls.CurveID, 0, len(names))
	for _, n := range names {
		ok := false
		for _, c := range known {
			if strings.EqualFold(c.String(), n) {
				out, ok = append(out, c), true
			}
		}
		if !ok {
			return nil, fmt.Errorf("unknown curve %q", n)
		}
	}
	return out, nil
}
