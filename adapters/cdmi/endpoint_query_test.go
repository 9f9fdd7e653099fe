package cdmi

import (
	"strings"
	"testing"
)

// TestEndpointWithQueryRefused: the adapter makes object URLs by adding
// a path to the root's URL, so a query on the root ("…/cdmi?k=v") put
// every path after it. Such an endpoint is refused at configuration,
// without its query in the message (it may hold a credential).
func TestEndpointWithQueryRefused(t *testing.T) {
	for _, ep := range []string{"https://cdmi.example/root?api_key=s3cr3t", "https://cdmi.example/root#frag"} {
		_, err := New(Config{Endpoint: ep})
		if err == nil || !strings.Contains(err.Error(), "no query or fragment") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("New(%q): %v, want a refusal without the query", ep, err)
		}
	}
	if _, err := New(Config{Endpoint: "https://cdmi.example/root"}); err != nil {
		t.Fatal(err)
	}
}
