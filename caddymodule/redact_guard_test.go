package caddymodule

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoURLRedactedInBrokerTexts: the broker's texts (admin answers, the
// console, refusals, logs) show peer URLs through peerurl.Redact, which
// drops the user info, query and fragment. Go's url.URL.Redacted masks
// only a password: a subscriber's or publisher's ?token= and a user name
// stayed in the admin API's subscriptions and webhooks, the console's
// operator page and callback refusals.
func TestNoURLRedactedInBrokerTexts(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		// The CLI names the --broker URL the user typed back to that
		// user, in a refusal of its password.
		if filepath.Dir(path) == "csbcli" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), ".Redacted()") {
			t.Errorf("%s: url.URL.Redacted keeps a URL's query and user name; use peerurl.Redact or peerurl.RedactString", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
