package link

import "github.com/caddy-csb/caddy-csb/broker/contract"

// HonouredFields implements contract.FieldReporter. A PaaS or SaaS request
// is a Link: its rel is matched (placement and Provision), but its href
// is not: the job's URI is the service's own href, whatever the request
// says, so a requested href is not honoured.
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = contract.Fields("PaaS/Link", "PaaS/Link/rel", "SaaS/Link", "SaaS/Link/rel")
