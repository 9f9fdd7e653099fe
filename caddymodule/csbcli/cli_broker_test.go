package csbcli

import (
	"strings"
	"testing"
)

// TestCLIBrokerURLErrorHidesPassword: a --broker (or CSB_BROKER) URL
// with a password in its userinfo is refused without the password in the
// message, also when the URL does not parse: the error went to stderr
// (and CI logs) with the URL as typed, twice.
func TestCLIBrokerURLErrorHidesPassword(t *testing.T) {
	for _, raw := range []string{
		"https://alice:s3cret@b.example:port",
		"https://alice:s3cret%zz@b.example",
		"alice:s3cret@b.example:84x3",
		"https://alice:s3cret@b.example/%zz",
		"https://alice:s3cret@[::1",
	} {
		_, err := consumerURL(raw)
		if err == nil {
			t.Errorf("%q accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the password is in the error: %v", raw, err)
		}
	}
}
