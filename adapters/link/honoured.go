package link

import "github.com/caddy-csb/caddy-csb/broker/adapters"

// HonouredFields implements adapters.FieldReporter. A PaaS or SaaS request
// is a Link: its rel is matched (placement and Provision), but its href
// is not: the job's URI is the service's own href, whatever the request
// says, so a requested href is not honoured.
func (a *Adapter) HonouredFields() adapters.FieldSet { return honoured }

var honoured = adapters.Fields("PaaS/Link", "PaaS/Link/rel", "SaaS/Link", "SaaS/Link/rel")
