package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// GlobalAccount is the account of every user that names none, nats-server's
// "$G". The broker gives each account its own subject space.
const GlobalAccount = "$G"

// DefaultTimeout is how long a client has to send its CONNECT when
// authentication is required, nats-server's AUTH_TIMEOUT.
const DefaultTimeout = 2 * time.Second

// User is one entry of an authorization block's users list: a name and
// password (plain or bcrypt), or an nkey (its public key; the client signs
// the server's nonce with the seed). Permissions nil means the block's
// default_permissions, or nothing restricted.
type User struct {
	Name        string
	Password    string
	Nkey        string
	Permissions *Permissions
	// Account is the account the user logs in to; "" is GlobalAccount.
	Account string
}

// Config is everything about client authentication a configuration file
// states: nats-server's authorization block, no_auth_user, and operator
// mode. The zero value requires no authentication.
type Config struct {
	// Token is authorization.token (plain or bcrypt); User and Password
	// the single user of authorization.user/password. At most one of
	// Token, User and Users may be set.
	Token    string
	User     string
	Password string
	// Users are authorization.users: user/password and nkey users.
	Users []User
	// DefaultPermissions apply to users without permissions of their own
	// (and to the single user and token clients).
	DefaultPermissions *Permissions
	// NoAuthUser names a user (or nkey) that a client sending no
	// credentials is logged in as.
	NoAuthUser string
	// Timeout is authorization.timeout; 0 is DefaultTimeout.
	Timeout time.Duration

	// Operators are the trusted operator JWTs (operator mode: every client
	// logs in with a user JWT signed by an account the operator signed);
	// Accounts the account JWTs of the MEMORY resolver (resolver_preload),
	// by account public key.
	Operators []string
	Accounts  map[string]string
	// SystemAccount is system_account (kept for the account layer).
	SystemAccount string
	// TLSMap is the client port's tls { verify_and_map }: users (not nkey
	// users) log in by their TLS certificate's SANs or subject (certmap.go).
	TLSMap bool
}

// Required reports whether clients must authenticate.
func (c *Config) Required() bool {
	return c.Token != "" || c.User != "" || c.Users != nil || len(c.Operators) > 0
}

// Validate reports the first contradiction, with nats-server's wording
// where it has one.
func (c *Config) Validate() error {
	if (c.User != "" || c.Password != "") && c.Token != "" {
		return errors.New("authorization: Cannot have a user/pass and token")
	}
	if c.Users != nil && c.User != "" {
		return errors.New("authorization: Can not have a single user/pass and a users array")
	}
	if c.Users != nil && c.Token != "" {
		return errors.New("authorization: Can not have a token and a users array")
	}
	if c.Password != "" && c.User == "" {
		return errors.New("authorization: a password needs a user")
	}
	if len(c.Operators) > 0 && (c.Token != "" || c.User != "" || c.Users != nil) {
		return errors.New("operator mode does not take an authorization block's users, user or token")
	}
	if len(c.Accounts) > 0 && len(c.Operators) == 0 {
		return errors.New("resolver_preload needs an operator")
	}
	if c.Timeout < 0 {
		return errors.New("authorization: timeout must not be negative")
	}
	seen := make(map[string]bool, len(c.Users))
	for _, u := range c.Users {
		if err := u.validate(); err != nil {
			return err
		}
		id := u.ID()
		if seen[id] {
			if u.Nkey != "" {
				return fmt.Errorf("authorization: Duplicate nkey %q detected", id)
			}
			return fmt.Errorf("authorization: Duplicate user %q detected", id)
		}
		seen[id] = true
	}
	if err := CheckSubjects(c.DefaultPermissions); err != nil {
		return fmt.Errorf("default_permissions: %w", err)
	}
	if c.NoAuthUser != "" {
		if len(c.Operators) > 0 {
			return errors.New("no_auth_user not compatible with Trusted Operator")
		}
		if c.Users == nil {
			return fmt.Errorf(`no_auth_user: "%s" present, but users/nkeys are not defined`, c.NoAuthUser)
		}
		if !seen[c.NoAuthUser] {
			return fmt.Errorf(`no_auth_user: "%s" not present as user or nkey in authorization block or account configuration`, c.NoAuthUser)
		}
	}
	return nil
}

// ID is the name a user is looked up by: its nkey, else its name.
func (u *User) ID() string {
	if u.Nkey != "" {
		return u.Nkey
	}
	return u.Name
}

func (u *User) validate() error {
	switch {
	case u.Nkey == "" && u.Name == "":
		return errors.New("authorization: User entry requires a user")
	case u.Nkey != "" && !nkeys.IsValidPublicUserKey(u.Nkey):
		return fmt.Errorf("authorization: %q is not a valid public nkey for a user", u.Nkey)
	case u.Nkey != "" && (u.Name != "" || u.Password != ""):
		return errors.New("authorization: Nkey users do not take usernames or passwords")
	}
	if err := CheckSubjects(u.Permissions); err != nil {
		return fmt.Errorf("invalid permissions for user %q: %w", u.ID(), err)
	}
	return nil
}

// IsBcrypt reports whether a configured password or token is a bcrypt
// hash, with nats-server's test: "$2a$", "$2b$", "$2x$" or "$2y$" and a
// two-digit cost followed by "$".
func IsBcrypt(s string) bool {
	return len(s) >= 7 && s[0] == '$' && s[1] == '2' && strings.IndexByte("abxy", s[2]) >= 0 &&
		s[3] == '$' && isDigit(s[4]) && isDigit(s[5]) && s[6] == '$'
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
