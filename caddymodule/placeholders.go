package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Placeholders the csb handler sets on every protocol answer of both
// interfaces (see Handler for their meaning). Those that do not apply to
// an answer are set to the empty string, so that one log or header
// directive serves both interfaces without leaving a literal
// "{http.csb.job.id}" behind.
const (
	phOutcome        = "http.csb.outcome"
	phProviderID     = "http.csb.provider.id"
	phJobID          = "http.csb.job.id"
	phSubscriptionID = "http.csb.subscription.id"
	phPublishOutcome = "http.csb.publish.outcome"
)

// csbPlaceholders are the values of one answer.
type csbPlaceholders struct {
	status         csbmsg.Status
	providerID     string
	jobID          string
	subscriptionID string
	publishOutcome string
}

// set writes the placeholders to repl (nil: nothing).
func (p csbPlaceholders) set(repl *caddy.Replacer) {
	if repl == nil {
		return
	}
	repl.Set(phOutcome, strconv.Itoa(int(p.status)))
	repl.Set(phProviderID, p.providerID)
	repl.Set(phJobID, p.jobID)
	repl.Set(phSubscriptionID, p.subscriptionID)
	repl.Set(phPublishOutcome, p.publishOutcome)
}
