package csbcli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCLINetrcTokensAcrossLines: netrc tokens are separated by any
// white space, newlines included (curl, ftp and Python read it so): a
// machine's name, a login or a password may be on the line after its
// keyword. Read line by line, "machine" alone on a line made an entry
// without a name, which the lookup took for the default, so the password
// of another host went to whatever broker was asked.
func TestCLINetrcTokensAcrossLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "netrc")
	content := "machine\n  other.example login carol password other-secret\n" +
		"machine broker.example\n  login\n  alice\n  password\n  \"s3 cret\"\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host, user, login, password string
		found                       bool
	}{
		{"elsewhere.example", "", "", "", false},
		{"other.example", "", "carol", "other-secret", true},
		{"broker.example", "", "alice", "s3 cret", true},
		{"broker.example", "alice", "alice", "s3 cret", true},
	} {
		login, pw, found, err := netrcLookup(path, c.host, c.user)
		if err != nil || found != c.found || login != c.login || pw != c.password {
			t.Errorf("%s %q: got %q %q %v %v, want %q %q %v", c.host, c.user, login, pw, found, err, c.login, c.password, c.found)
		}
	}
}
