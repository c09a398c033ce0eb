package app

import (
	"os"
	"strings"

	"github.com/bargemq/barge/auth"
	"github.com/nats-io/jwt/v2"
)

// The authorization block and operator mode, mapped onto Config.Auth with
// nats-server's keys and aliases:
//
//	authorization {
//	  user: a, password: $2a$11...   # or token: s3cr3t
//	  timeout: 2                     # seconds, or "2s"
//	  users: [
//	    {user: alice, password: pw, permissions: {publish: "orders.>"}}
//	    {nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}
//	  ]
//	  default_permissions: { subscribe: {allow: ["public.>"], deny: "public.secret"} }
//	}
//	no_auth_user: alice
//	operator: /path/to/operator.jwt  # or the JWT itself
//	resolver: MEMORY
//	resolver_preload: { ACCOUNTPUBKEY: "eyJ..." }

// applyAuthorization maps the authorization block.
func (c *Config) applyAuthorization(n Node) error {
	m, err := n.Map()
	if err != nil {
		return err
	}
	a := &c.Auth
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "user", "username":
			a.User, err = v.String()
		case "pass", "password":
			a.Password, err = v.String()
		case "token":
			a.Token, err = v.String()
		case "timeout":
			a.Timeout, err = v.Seconds()
		case "users":
			var users []auth.User
			if users, err = parseUsers(v); err == nil {
				// The accounts block's users may have come first.
				a.Users = append(users, a.Users...)
			}
		case "default_permission", "default_permissions", "permissions":
			a.DefaultPermissions, err = parsePermissions(v)
		default:
			return v.Errorf("unknown setting %q in block %q", k, "authorization")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseUsers reads the users list: maps with user/password or nkey and
// optional permissions.
func parseUsers(n Node) ([]auth.User, error) {
	items := n.List()
	users := make([]auth.User, 0, len(items))
	for _, it := range items {
		m, err := it.Map()
		if err != nil {
			return nil, err
		}
		var u auth.User
		for _, k := range sortedKeys(m) {
			v := m[k]
			switch k {
			case "user", "username":
				u.Name, err = v.String()
			case "pass", "password":
				u.Password, err = v.String()
			case "nkey":
				u.Nkey, err = v.String()
			case "permission", "permissions", "authorization":
				u.Permissions, err = parsePermissions(v)
			case "account":
				u.Account, err = v.String()
			default:
				return nil, v.Errorf("unknown setting %q in a user", k)
			}
			if err != nil {
				return nil, err
			}
		}
		if u.Name == "" && u.Nkey == "" {
			return nil, it.Errorf("User entry requires a user")
		}
		users = append(users, u)
	}
	return users, nil
}

// parsePermissions reads a permissions block: publish and subscribe (a
// subject, a list of them, or {allow, deny}) and allow_responses (true or
// {max, expires}). allow_responses turns publish's allow list on, as in
// nats-server.
func parsePermissions(n Node) (*auth.Permissions, error) {
	m, err := n.Map()
	if err != nil {
		return nil, err
	}
	p := &auth.Permissions{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "pub", "publish", "import":
			p.Publish, err = parseSubjectPermission(v)
		case "sub", "subscribe", "export":
			p.Subscribe, err = parseSubjectPermission(v)
		case "publish_allow_responses", "allow_responses":
			p.Response, err = parseAllowResponses(v)
		default:
			return nil, v.Errorf("Unknown field %q parsing permissions", k)
		}
		if err != nil {
			return nil, err
		}
	}
	if p.Response != nil {
		if p.Publish == nil {
			p.Publish = &auth.SubjectPermission{}
		}
		if p.Publish.Allow == nil {
			p.Publish.Allow = []string{}
		}
	}
	return p, nil
}

func parseSubjectPermission(n Node) (*auth.SubjectPermission, error) {
	if _, isMap := n.V.(map[string]any); !isMap {
		allow, err := n.Strings()
		return &auth.SubjectPermission{Allow: allow}, err
	}
	m, _ := n.Map()
	sp := &auth.SubjectPermission{}
	var err error
	for _, k := range sortedKeys(m) {
		switch k {
		case "allow":
			sp.Allow, err = m[k].Strings()
		case "deny":
			sp.Deny, err = m[k].Strings()
		default:
			return nil, m[k].Errorf("Unknown field name %q parsing subject permissions, only 'allow' or 'deny' are permitted", k)
		}
		if err != nil {
			return nil, err
		}
	}
	return sp, nil
}

func parseAllowResponses(n Node) (*auth.ResponsePermission, error) {
	if b, ok := n.V.(bool); ok {
		if !b {
			return nil, nil
		}
		return &auth.ResponsePermission{}, nil // Compile fills the defaults
	}
	m, err := n.Map()
	if err != nil {
		return nil, n.Errorf("error parsing response permissions, expected a boolean or a map")
	}
	rp := &auth.ResponsePermission{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "max", "max_msgs", "max_messages", "max_responses":
			var i int64
			i, err = v.Int()
			rp.MaxMsgs = int(i)
		case "expires", "expiration", "ttl":
			if _, isStr := v.V.(string); !isStr {
				return nil, v.Errorf("error parsing expires, not a duration string")
			}
			rp.Expires, err = v.Seconds()
		default:
			return nil, v.Errorf("Unknown field %q parsing permissions", k)
		}
		if err != nil {
			return nil, err
		}
	}
	return rp, nil
}

// applyOperators reads operator JWTs: each given inline or as a file
// (an nsc operator.jwt, decorated or not).
func (c *Config) applyOperators(n Node) error {
	list, err := n.Strings()
	if err != nil {
		return err
	}
	c.Auth.Operators = c.Auth.Operators[:0:0]
	for _, s := range list {
		if !strings.HasPrefix(strings.TrimSpace(s), "eyJ") {
			data, err := os.ReadFile(s)
			if err != nil {
				return n.Errorf("error parsing operator JWT: %v", err)
			}
			if s, err = jwt.ParseDecoratedJWT(data); err != nil {
				return n.Errorf("error parsing operator JWT: %v", err)
			}
		}
		oc, err := jwt.DecodeOperatorClaims(strings.TrimSpace(s))
		if err != nil {
			return n.Errorf("error parsing operator JWT: %v", err)
		}
		c.Auth.Operators = append(c.Auth.Operators, strings.TrimSpace(s))
		if c.Auth.SystemAccount == "" {
			c.Auth.SystemAccount = oc.SystemAccount
		}
	}
	return nil
}

// applyResolver accepts the MEMORY resolver only (resolver_preload holds
// its accounts); the URL and full resolvers are not built.
func (c *Config) applyResolver(n Node) error {
	s, err := n.String()
	if err != nil {
		return n.Errorf("resolver: only MEMORY is supported")
	}
	if u := strings.ToUpper(strings.TrimSpace(s)); u != "MEM" && u != "MEMORY" {
		return n.Errorf("resolver %q not supported: barge has the MEMORY resolver only", s)
	}
	return nil
}

// applyResolverPreload reads the account JWTs of the MEMORY resolver.
func (c *Config) applyResolverPreload(n Node) error {
	m, err := n.Map()
	if err != nil {
		return n.Errorf("preload should be a map of account_public_key:account_jwt")
	}
	// Keys are account public keys: upper case, so use the raw map's.
	raw := n.V.(map[string]any)
	c.Auth.Accounts = make(map[string]string, len(raw))
	for k := range raw {
		v := m[strings.ToLower(k)]
		s, err := v.String()
		if err != nil {
			return v.Errorf("preload map value should be a string JWT")
		}
		if _, err := jwt.DecodeAccountClaims(s); err != nil {
			return v.Errorf("invalid account JWT")
		}
		c.Auth.Accounts[k] = s
	}
	return nil
}

// newAuthenticator builds the authenticator of cfg, nil when it requires
// no authentication; prev lends its verified bcrypt passwords.
func newAuthenticator(cfg *auth.Config, prev *auth.Authenticator) (*auth.Authenticator, error) {
	if !cfg.Required() {
		return nil, nil
	}
	return auth.New(*cfg, prev)
}
