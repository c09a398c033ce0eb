package runner

import (
	"fmt"
	"os"
	"path/filepath"
)

// The auth-* workloads: both servers start from the same configuration
// file (-c), in nats-server's syntax, and the client logs in as
// Config.AuthUser. The generated file has users with publish and
// subscribe permissions (allow and deny lists, so every publish and
// subscription is checked against both); -auth-config replaces it with
// any file both servers take.
//
// Accounts hook: once barge has the accounts {} block, the generated
// config gains two accounts (authAccountsBlock below, used when
// Config.AuthAccounts is set), the bench user in the first and a second
// user with its own traffic in the other, so that the measured
// connection runs in one of several subject spaces.

// DefaultAuthUser and DefaultAuthPass are the generated config's
// measured user.
const (
	DefaultAuthUser = "bench"
	DefaultAuthPass = "bench-pw"
)

// authPermissions lets the bench user do what the workloads do (their
// bench.> subjects, the JetStream API, inboxes for replies and acks)
// and denies a subtree none of them touches.
const authPermissions = `{
      publish: { allow: ["bench.>", "$JS.API.>", "$JS.ACK.>", "_INBOX.>"], deny: ["bench.denied.>"] }
      subscribe: { allow: ["bench.>", "_INBOX.>"], deny: ["bench.denied.>"] }
    }`

// authUsersBlock is the authorization block without accounts.
func authUsersBlock(user, pass string) string {
	return fmt.Sprintf(`authorization {
  users: [
    { user: %q, password: %q, permissions: %s }
    { user: "other", password: "other-pw", permissions: { publish: "other.>", subscribe: "other.>" } }
  ]
}
`, user, pass, authPermissions)
}

// authAccountsBlock is the two-account form (for when barge has
// accounts): the same users, each in its own account.
func authAccountsBlock(user, pass string) string {
	return fmt.Sprintf(`accounts {
  A: { jetstream: enabled, users: [ { user: %q, password: %q, permissions: %s } ] }
  B: { jetstream: enabled, users: [ { user: "other", password: "other-pw", permissions: { publish: "other.>", subscribe: "other.>" } } ] }
}
`, user, pass, authPermissions)
}

// writeAuthConfig returns the config file the auth-* workloads start both
// servers with: c.AuthConfig when set, else a generated one in the work
// directory.
func writeAuthConfig(c *Config) (string, error) {
	if c.AuthConfig != "" {
		return filepath.Abs(c.AuthConfig)
	}
	body := authUsersBlock(c.AuthUser, c.AuthPass)
	if c.AuthAccounts {
		body = authAccountsBlock(c.AuthUser, c.AuthPass)
	}
	dir := filepath.Join(c.WorkDir, "auth")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(dir, "auth.conf"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte("# bargebench auth-* workloads\n"+body), 0o644)
}
