package caddymodule

import (
	"errors"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestAnonymousOwnerIsNoUsersName: the jobs of callers without
// authentication (under "anonymous allow") are owned by AnonymousOwner;
// an authenticated user of that name would own them too, on every front
// door. The name is refused (403, with the reason), whatever the
// anonymous setting, while callers without authentication still act as
// AnonymousOwner and so reach the anonymous jobs already stored.
func TestAnonymousOwnerIsNoUsersName(t *testing.T) {
	for _, tc := range []struct {
		user, anonymous string
		owner           string
		err             error
	}{
		{"", AnonymousAllow, AnonymousOwner, nil},
		{"", AnonymousRefuse, "", ErrAnonymous},
		{"alice", AnonymousAllow, "alice", nil},
		{"alice", AnonymousRefuse, "alice", nil},
		{AnonymousOwner, AnonymousAllow, "", ErrAnonymousName},
		{AnonymousOwner, AnonymousRefuse, "", ErrAnonymousName},
		{"Anonymous", AnonymousAllow, "Anonymous", nil}, // owners are compared exactly
	} {
		owner, err := ownerFor(tc.user, tc.anonymous)
		if owner != tc.owner || !errors.Is(err, tc.err) {
			t.Errorf("user %q, anonymous %s: %q %v, want %q %v", tc.user, tc.anonymous, owner, err, tc.owner, tc.err)
		}
		// The Consumer interface (csb: XML and the JSON listing).
		owner, err = consumerOwnerOf(tc.user, &ConsumerConfig{Anonymous: tc.anonymous})
		var he caddyhttp.HandlerError
		switch {
		case tc.err == nil && (err != nil || owner != tc.owner):
			t.Errorf("consumer interface, user %q, anonymous %s: %q %v, want %q", tc.user, tc.anonymous, owner, err, tc.owner)
		case tc.err != nil && (!errors.As(err, &he) || he.StatusCode != http.StatusForbidden):
			t.Errorf("consumer interface, user %q, anonymous %s: %q %v, want HTTP 403", tc.user, tc.anonymous, owner, err)
		case tc.err == ErrAnonymousName && he.Err.Error() != ErrAnonymousName.Error():
			t.Errorf("consumer interface, user %q: reason %q, want %q", tc.user, he.Err, ErrAnonymousName)
		}
	}
}
