package caddymodule

import "net/url"

// checkPeerURL reports whether the broker may call, or proxy to, u on
// behalf of provider providerID. u came from a peer: a publisher's Link
// href or Cloud-Service-URI, a provider's answer, a job's endpoint. A
// non-nil error says why u is refused; callers turn it into the protocol
// status of the notification or job, or a 403 on the job route.
//
// The policy (issue 15, item 2) is filled in by the peer URL policy; this
// is its one entry point for the rest of the module.
func (a *App) checkPeerURL(providerID string, u *url.URL) error {
	_ = providerID
	_ = u
	return nil
}
