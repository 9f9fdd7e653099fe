// Package cimi is the cloud service adapter for providers that speak DMTF
// CIMI (DSP0263, JSON binding). It discovers offers through the
// CloudEntryPoint, creates Machines from inline MachineTemplates, Volumes
// (attached through MachineVolume) and Networks, runs machine and network
// actions, and polls Machine and Job state. The CSB <-> CIMI mapping is in
// mapping.go and README.md.
//
// This package does not import Caddy.
package cimi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/caddy-csb/caddy-csb/adapters"
	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Config configures the adapter.
type Config struct {
	// Endpoint is the URL of the provider's CloudEntryPoint. Required.
	Endpoint string `json:"endpoint"`
	// Image is the MachineImage new machines boot: its href, or its name
	// in the machineImages collection. Default: the collection's first.
	Image string `json:"image,omitempty"`
	// NamePrefix prefixes the names of created resources; the job id
	// follows, so a crash mid-provisioning can be reconciled by name.
	// Default "csb-".
	NamePrefix string `json:"name_prefix,omitempty"`
}

// Adapter talks to one CIMI provider. It is safe for concurrent use.
type Adapter struct {
	cfg Config

	mu   sync.Mutex
	http *httpx.Client
	cep  *CloudEntryPoint // cached after the first successful read
	img  string           // resolved image href
}

// New returns an adapter for the provider at cfg.Endpoint.
func New(cfg Config) (*Adapter, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("cimi: endpoint is required")
	}
	if !strings.HasPrefix(cfg.Endpoint, "http://") && !strings.HasPrefix(cfg.Endpoint, "https://") {
		return nil, fmt.Errorf("cimi: endpoint %q must be an http or https URL", cfg.Endpoint)
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "csb-"
	}
	a := &Adapter{cfg: cfg}
	a.SetHTTPClient(nil)
	return a, nil
}

// SetHTTPClient sets the client used for every call (TLS trust and
// authentication for this provider). Nil means a shared default client.
func (a *Adapter) SetHTTPClient(c *http.Client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.http = &httpx.Client{HTTP: c, Header: http.Header{VersionHeader: {Version}}}
}

// SetRetryPolicy tunes the retries of idempotent calls (tests).
func (a *Adapter) SetRetryPolicy(fn func(*httpx.Client)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a.http)
}

func (a *Adapter) client() *httpx.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.http
}

// call performs one CIMI call with JSON in and out.
func (a *Adapter) call(ctx context.Context, op, method, url string, in, out any) (*httpx.Response, error) {
	return a.client().Do(ctx, httpx.Call{Op: op, Method: method, URL: url, JSON: in, ContentType: MediaType, Accept: MediaType, Out: out})
}

func (a *Adapter) entryPoint(ctx context.Context, op string) (*CloudEntryPoint, error) {
	a.mu.Lock()
	cep := a.cep
	a.mu.Unlock()
	if cep != nil {
		return cep, nil
	}
	cep = new(CloudEntryPoint)
	if _, err := a.call(ctx, op+": read CloudEntryPoint", http.MethodGet, a.cfg.Endpoint, nil, cep); err != nil {
		return nil, err
	}
	for _, r := range []**Ref{&cep.Machines, &cep.MachineConfigs, &cep.MachineImages, &cep.Volumes, &cep.VolumeConfigs, &cep.Networks, &cep.Jobs, &cep.MachineTemplates} {
		if *r != nil {
			(*r).Href = a.resolve((*r).Href)
		}
	}
	a.mu.Lock()
	a.cep = cep
	a.mu.Unlock()
	return cep, nil
}

func (a *Adapter) resolve(href string) string {
	u, err := httpx.Resolve(a.cfg.Endpoint, href)
	if err != nil {
		return href
	}
	return u
}

func (a *Adapter) list(ctx context.Context, op string, ref *Ref) ([]json.RawMessage, error) {
	if ref == nil || ref.Href == "" {
		return nil, nil
	}
	var col collection
	if _, err := a.call(ctx, op, http.MethodGet, ref.Href, nil, &col); err != nil {
		return nil, err
	}
	return col.Members, nil
}

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
	configs, err := a.list(ctx, op+": machineConfigs", cep.MachineConfigs)
	if err != nil {
		return nil, err
	}
	var maxVolKiB uint64
	vcs, err := a.list(ctx, op+": volumeConfigs", cep.VolumeConfigs)
	if err != nil {
		return nil, err
	}
	for _, raw := range vcs {
		var vc VolumeConfiguration
		if json.Unmarshal(raw, &vc) == nil && vc.Capacity > maxVolKiB {
			maxVolKiB = vc.Capacity
		}
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
	for _, raw := range configs {
		var mc MachineConfiguration
		if err := json.Unmarshal(raw, &mc); err != nil {
			return nil, &adapters.Error{Kind: adapters.KindServer, Op: op, Err: fmt.Errorf("machine configuration: %w", err)}
		}
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

// image returns the href of the MachineImage to boot.
func (a *Adapter) image(ctx context.Context, cep *CloudEntryPoint) (string, error) {
	a.mu.Lock()
	img := a.img
	a.mu.Unlock()
	if img != "" {
		return img, nil
	}
	want := a.cfg.Image
	if strings.Contains(want, "/") {
		img = a.resolve(want)
	} else {
		items, err := a.list(ctx, "provision: machineImages", cep.MachineImages)
		if err != nil {
			return "", err
		}
		for _, raw := range items {
			var mi MachineImage
			if json.Unmarshal(raw, &mi) != nil {
				continue
			}
			if want == "" || mi.Name == want {
				img = a.resolve(mi.ID)
				break
			}
		}
		if img == "" {
			return "", &adapters.Error{Kind: adapters.KindUnsupported, Op: "provision", Err: fmt.Errorf("no machine image %q at the provider", want)}
		}
	}
	a.mu.Lock()
	a.img = img
	a.mu.Unlock()
	return img, nil
}

// Native keys of a Resource.
const (
	keyMachine       = "machine"
	keyVolume        = "volume"
	keyNetwork       = "network"
	keyMachineVolume = "machine_volume"
	keyJob           = "job"
	keyJobID         = "csb_job"
)

func unsupported(op string, format string, args ...any) error {
	return &adapters.Error{Kind: adapters.KindUnsupported, Op: op, Err: fmt.Errorf(format, args...)}
}

func (a *Adapter) check(op string, want *csbmsg.IaaS) error {
	if want == nil {
		return unsupported(op, "the cimi adapter provisions IaaS only")
	}
	if want.Compute == nil && want.Storage == nil && want.Network == nil {
		return unsupported(op, "the IaaS request has no compute, storage or network")
	}
	if want.Compute != nil && (deref(want.Compute.Cores) == 0 || deref(want.Compute.Memory) == 0) {
		return unsupported(op, "compute needs cores and memory")
	}
	if want.Storage != nil && deref(want.Storage.Size) == 0 {
		return unsupported(op, "storage needs a size")
	}
	if want.NetworkInterface != nil && want.Compute == nil {
		return unsupported(op, "a NetworkInterface needs compute")
	}
	if want.StorageLink != nil && (want.Compute == nil || want.Storage == nil) {
		return unsupported(op, "a storagelink needs compute and storage")
	}
	return nil
}

// Provision creates, in order, the Volume, the Network, the Machine (from
// an inline MachineTemplate, on the network) and the MachineVolume that
// attaches the volume. If a step fails, the returned Resource holds what
// was created so far, for Remove.
func (a *Adapter) Provision(ctx context.Context, req *adapters.Request) (*adapters.Resource, error) {
	const op = "provision"
	want := req.Want.IaaS
	if err := a.check(op, want); err != nil {
		return nil, err
	}
	cep, err := a.entryPoint(ctx, op)
	if err != nil {
		return nil, err
	}
	name := a.cfg.NamePrefix + req.JobID
	if want.Compute != nil && want.Compute.Hostname != nil && *want.Compute.Hostname != "" {
		name = *want.Compute.Hostname
	}
	var image string
	if want.Compute != nil {
		if image, err = a.image(ctx, cep); err != nil {
			return nil, err
		}
	}
	res := &adapters.Resource{State: adapters.StatePending, Native: map[string]string{keyJobID: req.JobID}, Endpoint: a.cfg.Endpoint}
	props := map[string]string{keyJobID: req.JobID}
	if req.Owner != "" {
		props["csb_owner"] = req.Owner
	}
	partial := func(err error) (*adapters.Resource, error) {
		if len(res.Native) > 1 {
			return res, err
		}
		return nil, err
	}
	if want.Storage != nil {
		if cep.Volumes == nil {
			return nil, unsupported(op, "the provider has no volumes collection")
		}
		vc := VolumeCreate{ResourceURI: NS + "/VolumeCreate", Name: name, Properties: props}
		vc.VolumeTemplate.VolumeConfig = VolumeConfiguration{Type: NS + "/mapped", Format: "ext4", Capacity: gbToKiB(*want.Storage.Size)}
		var v Volume
		resp, err := a.call(ctx, op+": create volume", http.MethodPost, cep.Volumes.Href, vc, &v)
		if err != nil {
			return partial(err)
		}
		res.Native[keyVolume] = a.location(resp, v.ID)
	}
	if want.Network != nil {
		if cep.Networks == nil {
			return partial(unsupported(op, "the provider has no networks collection"))
		}
		nname := name
		if want.Network.VLANLabel != nil {
			nname = *want.Network.VLANLabel
		}
		nc := NetworkCreate{ResourceURI: NS + "/NetworkCreate", Name: nname, Properties: map[string]string{}}
		for k, v := range props {
			nc.Properties[k] = v
		}
		if want.Network.VLAN != nil {
			nc.Properties["vlan"] = *want.Network.VLAN
		}
		nc.NetworkTemplate.NetworkConfig = NetworkConfiguration{NetworkType: "PRIVATE"}
		var n Network
		resp, err := a.call(ctx, op+": create network", http.MethodPost, cep.Networks.Href, nc, &n)
		if err != nil {
			return partial(err)
		}
		res.Native[keyNetwork] = a.location(resp, n.ID)
	}
	if want.Compute != nil {
		if cep.Machines == nil {
			return partial(unsupported(op, "the provider has no machines collection"))
		}
		mc := &MachineConfiguration{}
		for _, f := range ComputeFields {
			if f.toCIMI != nil {
				f.toCIMI(want.Compute, mc)
			}
		}
		create := MachineCreate{ResourceURI: NS + "/MachineCreate", Name: name, Description: "caddy-csb job " + req.JobID, Properties: props,
			MachineTemplate: MachineTemplate{MachineConfig: mc, MachineImage: &Ref{Href: image}}}
		if net := res.Native[keyNetwork]; net != "" && (want.NetworkInterface != nil || want.Network != nil) {
			create.MachineTemplate.NetworkInterfaces = []NetworkInterfaceTemplate{{Network: &Ref{Href: net}}}
		}
		var m Machine
		resp, err := a.call(ctx, op+": create machine", http.MethodPost, cep.Machines.Href, create, &m)
		if err != nil {
			return partial(err)
		}
		res.Native[keyMachine] = a.location(resp, m.ID)
		if j := resp.Header.Get(JobHeader); j != "" {
			res.Native[keyJob] = a.resolve(j)
		}
		if vol := res.Native[keyVolume]; vol != "" {
			if err := a.attach(ctx, res, &m, want.StorageLink); err != nil {
				return partial(err)
			}
		}
	}
	res.URI = firstOf(res.Native[keyMachine], res.Native[keyVolume], res.Native[keyNetwork])
	out, err := a.Status(ctx, res)
	if err != nil {
		// Created, but not readable yet: the broker polls.
		return res, nil
	}
	return out, nil
}

// attach POSTs a MachineVolume to the machine's volumes collection.
func (a *Adapter) attach(ctx context.Context, res *adapters.Resource, m *Machine, link *csbmsg.StorageLink) error {
	const op = "provision: attach volume"
	coll := ""
	if m.Volumes != nil {
		coll = a.resolve(m.Volumes.Href)
	}
	if coll == "" {
		var fresh Machine
		if _, err := a.call(ctx, op, http.MethodGet, res.Native[keyMachine], nil, &fresh); err != nil {
			return err
		}
		if fresh.Volumes == nil {
			return unsupported(op, "the machine has no volumes collection")
		}
		coll = a.resolve(fresh.Volumes.Href)
	}
	loc := "/dev/vdb"
	if link != nil {
		if link.Mountpoint != nil && *link.Mountpoint != "" {
			loc = *link.Mountpoint
		} else if link.DeviceID != nil && *link.DeviceID != "" {
			loc = *link.DeviceID
		}
	}
	mv := MachineVolume{ResourceURI: NS + "/MachineVolume", InitialLocation: loc, Volume: Ref{Href: res.Native[keyVolume]}}
	var got MachineVolume
	resp, err := a.call(ctx, op, http.MethodPost, coll, mv, &got)
	if err != nil {
		return err
	}
	res.Native[keyMachineVolume] = a.location(resp, got.ID)
	res.Native["initial_location"] = loc
	return nil
}

// location is where a create put the resource: the Location header, else
// the returned representation's id.
func (a *Adapter) location(resp *httpx.Response, id string) string {
	if l := resp.Header.Get("Location"); l != "" {
		return a.resolve(l)
	}
	return a.resolve(id)
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Status reads the Machine, Volume and Network and the pending Job, and
// reports the granted values.
func (a *Adapter) Status(ctx context.Context, res *adapters.Resource) (*adapters.Resource, error) {
	const op = "status"
	out := cloneResource(res)
	out.State = adapters.StateReady
	iaas := &csbmsg.IaaS{}
	gone, parts := 0, 0
	if href := res.Native[keyMachine]; href != "" {
		parts++
		var m Machine
		_, err := a.call(ctx, op+": read machine", http.MethodGet, href, nil, &m)
		switch {
		case adapters.KindOf(err) == adapters.KindNotFound:
			gone++
		case err != nil:
			return nil, err
		default:
			c := &csbmsg.Compute{}
			for _, f := range ComputeFields {
				if f.fromMachine != nil {
					f.fromMachine(&m, c)
				}
			}
			row, ok := MachineStates[strings.ToUpper(m.State)]
			if !ok {
				row = StateRow{State: adapters.StatePending}
			}
			if row.Compute != "" {
				c.Status = ptr(row.Compute)
			}
			out.State = worse(out.State, row.State)
			iaas.Compute = c
			if res.Native[keyMachineVolume] != "" {
				iaas.StorageLink = &csbmsg.StorageLink{Mountpoint: ptr(res.Native["initial_location"]), Status: ptr(csbmsg.NetworkActive)}
			}
		}
	}
	if href := res.Native[keyJob]; href != "" && out.State == adapters.StatePending {
		var j Job
		if _, err := a.call(ctx, op+": read job", http.MethodGet, href, nil, &j); err == nil {
			switch strings.ToUpper(j.State) {
			case "FAILED":
				out.State = adapters.StateFailed
			case "SUCCESS":
				delete(out.Native, keyJob)
			}
		} else if adapters.KindOf(err) == adapters.KindNotFound {
			delete(out.Native, keyJob) // providers may forget finished jobs
		}
	}
	if href := res.Native[keyVolume]; href != "" {
		parts++
		var v Volume
		_, err := a.call(ctx, op+": read volume", http.MethodGet, href, nil, &v)
		switch {
		case adapters.KindOf(err) == adapters.KindNotFound:
			gone++
		case err != nil:
			return nil, err
		default:
			s := &csbmsg.Storage{Size: ptr(kibToGB(v.Capacity))}
			st, ok := VolumeStates[strings.ToUpper(v.State)]
			switch {
			case !ok || st == "":
				out.State = worse(out.State, adapters.StatePending)
			case st == csbmsg.StorageDegraded:
				out.State = worse(out.State, adapters.StateFailed)
				s.Status = ptr(st)
			default:
				s.Status = ptr(st)
			}
			iaas.Storage = s
		}
	}
	if href := res.Native[keyNetwork]; href != "" {
		parts++
		var n Network
		_, err := a.call(ctx, op+": read network", http.MethodGet, href, nil, &n)
		switch {
		case adapters.KindOf(err) == adapters.KindNotFound:
			gone++
		case err != nil:
			return nil, err
		default:
			nw := &csbmsg.Network{Allocation: ptr(csbmsg.AllocationDynamic)}
			if n.Name != "" {
				nw.VLANLabel = ptr(nmtokenBad.ReplaceAllString(n.Name, "-"))
			}
			if v := n.Properties["vlan"]; v != "" {
				nw.VLAN = ptr(v)
			}
			if st, ok := NetworkStates[strings.ToUpper(n.State)]; ok {
				nw.Status = ptr(st)
			} else {
				out.State = worse(out.State, adapters.StatePending)
			}
			iaas.Network = nw
			if iaas.Compute != nil {
				iaas.NetworkInterface = &csbmsg.NetworkInterface{Allocation: ptr(csbmsg.AllocationDynamic), Status: nw.Status}
			}
		}
	}
	if parts > 0 && gone == parts {
		out.State = adapters.StateGone
	} else if gone > 0 {
		out.State = adapters.StateFailed
	}
	out.Granted = csbmsg.ServiceRequest{IaaS: iaas}
	return out, nil
}

// worse returns the less settled of two states.
func worse(a, b adapters.State) adapters.State {
	rank := map[adapters.State]int{adapters.StateReady: 0, adapters.StatePending: 1, adapters.StateFailed: 2, adapters.StateGone: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func cloneResource(r *adapters.Resource) *adapters.Resource {
	out := *r
	out.Native = make(map[string]string, len(r.Native))
	for k, v := range r.Native {
		out.Native[k] = v
	}
	return &out
}

// Update resizes (Machine edit of cpu/memory, Volume edit of capacity) and
// runs the requested compute and network actions.
func (a *Adapter) Update(ctx context.Context, res *adapters.Resource, req *adapters.Request) (*adapters.Resource, error) {
	const op = "update"
	want := req.Want.IaaS
	if want == nil {
		return nil, unsupported(op, "the cimi adapter updates IaaS only")
	}
	if want.Compute != nil && res.Native[keyMachine] == "" ||
		want.Storage != nil && res.Native[keyVolume] == "" ||
		want.Network != nil && res.Native[keyNetwork] == "" {
		return nil, unsupported(op, "adding compute, storage or network to an existing job")
	}
	if want.Storage != nil && want.Storage.Action != nil && !StorageActions[*want.Storage.Action] {
		return nil, unsupported(op, "storage action %q has no CIMI operation", *want.Storage.Action)
	}
	if want.Compute != nil && want.Compute.Action != nil {
		if _, ok := ComputeActions[*want.Compute.Action]; !ok {
			return nil, unsupported(op, "unknown compute action %q", *want.Compute.Action)
		}
	}
	if want.Network != nil && want.Network.Action != nil {
		if _, ok := NetworkActions[*want.Network.Action]; !ok {
			return nil, unsupported(op, "unknown network action %q", *want.Network.Action)
		}
	}
	cur, err := a.Status(ctx, res)
	if err != nil {
		return nil, err
	}
	out := cloneResource(res)
	if c := want.Compute; c != nil {
		var m Machine
		if _, err := a.call(ctx, op+": read machine", http.MethodGet, res.Native[keyMachine], nil, &m); err != nil {
			return nil, err
		}
		g := cur.Granted.IaaS.Compute
		newCPU, newMem := deref(c.Cores), gbToKiB(deref(c.Memory))
		if g != nil && (newCPU != 0 && newCPU != deref(g.Cores) || c.Memory != nil && deref(c.Memory) != deref(g.Memory)) {
			edit := op2(m.Operations, "edit", m.ID)
			if edit == "" {
				return nil, unsupported(op, "the machine offers no edit operation")
			}
			body := Machine{ResourceURI: NS + "/Machine", ID: m.ID, CPU: newCPU, Memory: newMem}
			if _, err := a.call(ctx, op+": resize machine", http.MethodPut, a.resolve(edit), body, &m); err != nil {
				return nil, err
			}
		}
		if c.Action != nil {
			rel := ComputeActions[*c.Action]
			href := op2(m.Operations, rel, "")
			if href == "" {
				return nil, &adapters.Error{Kind: adapters.KindClient, Op: op, Err: fmt.Errorf("machine in state %s offers no %s operation", m.State, *c.Action)}
			}
			resp, err := a.call(ctx, op+": "+string(*c.Action), http.MethodPost, a.resolve(href), Action{ResourceURI: NS + "/Action", Action: rel}, nil)
			if err != nil {
				return nil, err
			}
			if j := resp.Header.Get(JobHeader); j != "" {
				out.Native[keyJob] = a.resolve(j)
			}
		}
	}
	if s := want.Storage; s != nil {
		g := cur.Granted.IaaS.Storage
		if s.Size != nil && (g == nil || *s.Size != deref(g.Size)) {
			var v Volume
			if _, err := a.call(ctx, op+": read volume", http.MethodGet, res.Native[keyVolume], nil, &v); err != nil {
				return nil, err
			}
			edit := op2(v.Operations, "edit", v.ID)
			if edit == "" {
				return nil, unsupported(op, "the volume offers no edit operation")
			}
			body := Volume{ResourceURI: NS + "/Volume", ID: v.ID, Capacity: gbToKiB(*s.Size)}
			if _, err := a.call(ctx, op+": resize volume", http.MethodPut, a.resolve(edit), body, nil); err != nil {
				return nil, err
			}
		}
	}
	if n := want.Network; n != nil && n.Action != nil {
		var nw Network
		if _, err := a.call(ctx, op+": read network", http.MethodGet, res.Native[keyNetwork], nil, &nw); err != nil {
			return nil, err
		}
		rel := NetworkActions[*n.Action]
		href := op2(nw.Operations, rel, "")
		if href == "" {
			return nil, &adapters.Error{Kind: adapters.KindClient, Op: op, Err: fmt.Errorf("network in state %s offers no %s operation", nw.State, *n.Action)}
		}
		if _, err := a.call(ctx, op+": network "+string(*n.Action), http.MethodPost, a.resolve(href), Action{ResourceURI: NS + "/Action", Action: rel}, nil); err != nil {
			return nil, err
		}
	}
	return a.Status(ctx, out)
}

// op2 returns the operation href for rel; for "edit" a provider may leave
// the operation out when edits go to the resource itself (fallback).
func op2(ops []Operation, rel, fallback string) string {
	if h := op(ops, rel); h != "" {
		return h
	}
	if len(ops) == 0 {
		return fallback
	}
	return ""
}

// Remove detaches the volume, then deletes the machine, the volume and the
// network. What is already gone (404) counts as removed. When a create
// answer was lost (the Resource has the job id but not the href), the
// collections are searched for resources tagged with the job id.
func (a *Adapter) Remove(ctx context.Context, res *adapters.Resource) error {
	const op = "remove"
	del := func(what, href string) error {
		if href == "" {
			return nil
		}
		_, err := a.call(ctx, op+": delete "+what, http.MethodDelete, href, nil, nil)
		if adapters.KindOf(err) == adapters.KindNotFound {
			return nil
		}
		return err
	}
	if err := del("machine volume", res.Native[keyMachineVolume]); err != nil {
		return err
	}
	if err := del("machine", res.Native[keyMachine]); err != nil {
		return err
	}
	if err := del("volume", res.Native[keyVolume]); err != nil {
		return err
	}
	if err := del("network", res.Native[keyNetwork]); err != nil {
		return err
	}
	if job := res.Native[keyJobID]; job != "" && (res.Native[keyMachine] == "" || res.Native[keyVolume] == "" || res.Native[keyNetwork] == "") {
		return a.removeByJob(ctx, job, res)
	}
	return nil
}

// removeByJob deletes the resources tagged with the job id (property
// csb_job) in the collections whose href the Resource does not hold: the
// reconciliation after a create whose answer never arrived.
func (a *Adapter) removeByJob(ctx context.Context, jobID string, res *adapters.Resource) error {
	const op = "remove: reconcile by job"
	cep, err := a.entryPoint(ctx, op)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		key string
		ref *Ref
	}{{keyMachine, cep.Machines}, {keyVolume, cep.Volumes}, {keyNetwork, cep.Networks}} {
		if res.Native[c.key] != "" || c.ref == nil {
			continue
		}
		items, err := a.list(ctx, op, c.ref)
		if err != nil {
			return err
		}
		for _, raw := range items {
			var it struct {
				ID         string            `json:"id"`
				Properties map[string]string `json:"properties"`
			}
			if json.Unmarshal(raw, &it) != nil || it.Properties[keyJobID] != jobID || it.ID == "" {
				continue
			}
			if _, err := a.call(ctx, op, http.MethodDelete, a.resolve(it.ID), nil, nil); err != nil && adapters.KindOf(err) != adapters.KindNotFound {
				return err
			}
		}
	}
	return nil
}

// ServiceKinds reports the service model the adapter serves.
func (a *Adapter) ServiceKinds() []string { return []string{"IaaS"} }

// Interface guards.
var (
	_ adapters.KindReporter = (*Adapter)(nil)
	_ adapters.Adapter      = (*Adapter)(nil)
	_ adapters.Discoverer   = (*Adapter)(nil)
)
