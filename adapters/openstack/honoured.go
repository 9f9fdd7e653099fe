package openstack

import (
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// HonouredFields implements contract.FieldReporter: model.ComputeHonoured
// and objstore.Honoured. Nova: the server's
// flavor meets cores, memory and storage size, its image the
// architecture, its name the hostname; it gets an interface on the
// configured networks (NetworkInterface, none of its children). A network
// (Neutron), network address and gateway, storagelink and the status and
// action children of a create are not honoured. Swift: objstore.Honoured.
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = model.ComputeHonoured.Union(objstore.Honoured)
