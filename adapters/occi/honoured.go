package occi

import "github.com/caddy-csb/caddy-csb/broker/contract"

// HonouredFields implements contract.FieldReporter: every IaaS element
// the adapter creates, and every child its mapping tables send to the
// provider (the rows that are not ReadOnly).
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = func() contract.FieldSet {
	s := contract.Fields("IaaS/compute", "IaaS/storage", "IaaS/network", "IaaS/NetworkInterface", "IaaS/storagelink")
	addRows(s, "IaaS/compute", computeRows)
	addRows(s, "IaaS/storage", storageRows)
	addRows(s, "IaaS/network", networkRows)
	addRows(s, "IaaS/NetworkInterface", networkInterfaceRows)
	addRows(s, "IaaS/storagelink", storageLinkRows)
	return s
}()

func addRows[E any](s contract.FieldSet, elem string, rows []row[E]) {
	for _, r := range rows {
		if !r.ReadOnly {
			s[elem+"/"+r.CSB] = struct{}{}
		}
	}
}
