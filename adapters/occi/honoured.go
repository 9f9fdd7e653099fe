package occi

import "github.com/caddy-csb/caddy-csb/broker/adapters"

// HonouredFields implements adapters.FieldReporter: every IaaS element
// the adapter creates, and every child its mapping tables send to the
// provider (the rows that are not ReadOnly).
func (a *Adapter) HonouredFields() adapters.FieldSet { return honoured }

var honoured = func() adapters.FieldSet {
	s := adapters.Fields("IaaS/compute", "IaaS/storage", "IaaS/network", "IaaS/NetworkInterface", "IaaS/storagelink")
	addRows(s, "IaaS/compute", computeRows)
	addRows(s, "IaaS/storage", storageRows)
	addRows(s, "IaaS/network", networkRows)
	addRows(s, "IaaS/NetworkInterface", networkInterfaceRows)
	addRows(s, "IaaS/storagelink", storageLinkRows)
	return s
}()

func addRows[E any](s adapters.FieldSet, elem string, rows []row[E]) {
	for _, r := range rows {
		if !r.ReadOnly {
			s[elem+"/"+r.CSB] = struct{}{}
		}
	}
}
