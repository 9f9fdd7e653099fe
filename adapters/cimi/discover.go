package cimi

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

var nmtokenBad = regexp.MustCompile(`[^A-Za-z0-9._:-]+`)

// Discover reads the provider's offers: one IaaS service per
// MachineConfiguration, with storage-support from the largest
// VolumeConfiguration and network-support when the provider has networks.
func (a *Adapter) Discover(ctx context.Context) ([]csbmsg.Service, error) {
	const op = "discover"
	cep, err := a.entryPoint(ctx, op)
	if err != nil {
		return nil, err
	}
	var configs []MachineConfiguration
	err = a.each(ctx, op+": machineConfigs", cep.MachineConfigs, func(raw json.RawMessage) error {
		var mc MachineConfiguration
		if err := json.Unmarshal(raw, &mc); err != nil {
			return &contract.Error{Kind: contract.KindServer, Op: op, Err: fmt.Errorf("machine configuration: %w", err)}
		}
		configs = append(configs, mc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var maxVolKiB uint64
	err = a.each(ctx, op+": volumeConfigs", cep.VolumeConfigs, func(raw json.RawMessage) error {
		var vc VolumeConfiguration
		if json.Unmarshal(raw, &vc) == nil && vc.Capacity > maxVolKiB {
			maxVolKiB = vc.Capacity
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	nets, err := a.list(ctx, op+": networks", cep.Networks)
	if err != nil {
		return nil, err
	}
	var network *csbmsg.Network
	if len(nets) > 0 || cep.Networks != nil {
		network = &csbmsg.Network{Allocation: ptr(csbmsg.AllocationDynamic), Status: ptr(csbmsg.NetworkActive)}
		var n Network
		if len(nets) > 0 && json.Unmarshal(nets[0], &n) == nil && n.Name != "" {
			network.VLANLabel = ptr(nmtokenBad.ReplaceAllString(n.Name, "-"))
		}
	}
	var out []csbmsg.Service
	for _, mc := range configs {
		name := mc.Name
		if name == "" {
			name = mc.ID[strings.LastIndex(mc.ID, "/")+1:]
		}
		compute := &csbmsg.Compute{}
		for _, f := range ComputeFields {
			if f.fromConfig != nil {
				f.fromConfig(&mc, compute)
			}
		}
		iaas := &csbmsg.IaaS{Compute: compute, Network: network}
		volKiB := maxVolKiB
		for _, d := range mc.Disks {
			volKiB = max(volKiB, d.Capacity)
		}
		if volKiB > 0 || cep.Volumes != nil {
			iaas.Storage = &csbmsg.Storage{Size: ptr(kibToGB(volKiB)), Status: ptr(csbmsg.StorageOnline)}
			iaas.StorageLink = &csbmsg.StorageLink{Status: ptr(csbmsg.NetworkActive)}
		}
		if network != nil {
			iaas.NetworkInterface = &csbmsg.NetworkInterface{Allocation: ptr(csbmsg.AllocationDynamic), Status: ptr(csbmsg.NetworkActive)}
		}
		out = append(out, csbmsg.Service{
			ID:     nmtokenBad.ReplaceAllString("cimi-"+name, "-"),
			Status: csbmsg.ServiceActive,
			URI:    a.resolve(mc.ID),
			IaaS:   iaas,
		})
	}
	return out, nil
}
