package contract

import (
	"context"
	"net/http"
)

// FrontReauthenticator is implemented by a Fronter that puts a credential
// of its own on fronted requests (an OpenStack token) which the provider
// may stop accepting before it expires (Keystone revokes tokens on a
// password change, a role removal or a logout). When the provider answers
// a fronted request 401, the broker calls FrontRefused with that request
// as it was forwarded (r carries the refused credential) and the job's
// resource: the adapter obtains a new credential, unless one already
// replaced the refused one, and puts it on r. The broker calls it after
// the answer (so the next request carries the new credential) and, when
// the reverse proxy retries a 401 (lb_retry_match), before the retry.
type FrontReauthenticator interface {
	FrontRefused(ctx context.Context, r *http.Request, res *Resource) error
}
