package openstack

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/nativeerr"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// flavor is a Nova flavor as the flavors/detail call returns it.
// gophercloud's Flavor does not decode OS-FLV-DISABLED:disabled.
type flavor struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	VCPUs    int    `json:"vcpus"`
	RAM      int    `json:"ram"`  // MiB
	Disk     int    `json:"disk"` // GB, 0 = the image's size
	Disabled bool   `json:"OS-FLV-DISABLED:disabled"`
}

// need is what a compute request asks of a flavor.
type need struct {
	cores  int // vCPUs
	ramMiB int
	diskGB int
}

func (n need) String() string {
	return fmt.Sprintf("%d vCPUs, %d MiB RAM, %d GB disk", n.cores, n.ramMiB, n.diskGB)
}

// serverName is the name of the job's server: the requested hostname,
// else the name prefix and the job id made a host label. Provision names
// the server so and Find looks it up by it.
func (a *Adapter) serverName(req *contract.Request) string {
	if c := req.Want.IaaS.Compute; c != nil && c.Hostname != nil {
		return *c.Hostname
	}
	return hostLabel(a.cfg.NamePrefix + req.JobID)
}

// needOf reads the sizes an IaaS request asks for. Memory is in GB
// (draft <memory>), Nova's RAM in MiB.
func needOf(x *csbmsg.IaaS) (need, error) {
	var n need
	if x.Compute != nil {
		if x.Compute.Cores != nil {
			n.cores = int(min(*x.Compute.Cores, 1<<20))
		}
		if x.Compute.Memory != nil {
			if *x.Compute.Memory > 1<<20 {
				return n, fmt.Errorf("memory %d GB is beyond any flavor", *x.Compute.Memory)
			}
			n.ramMiB = int(*x.Compute.Memory) * 1024
		}
	}
	if x.Storage != nil && x.Storage.Size != nil {
		n.diskGB = int(min(*x.Storage.Size, 1<<30))
	}
	return n, nil
}

// fits reports whether f satisfies n. A flavor with disk 0 boots from the
// image's own size, so it fits only requests that name no disk size.
func (f flavor) fits(n need) bool {
	if f.Disabled || f.VCPUs < n.cores || f.RAM < n.ramMiB {
		return false
	}
	if n.diskGB > 0 && f.Disk < n.diskGB {
		return false
	}
	return true
}

// smallestFitting returns the smallest flavor that fits n: fewest vCPUs,
// then least RAM, then least disk, then lowest id, so the choice is
// deterministic.
func smallestFitting(fl []flavor, n need) (flavor, bool) {
	return model.Smallest(fl, func(f flavor) bool { return f.fits(n) }, func(a, b flavor) int {
		return cmp.Or(cmp.Compare(a.VCPUs, b.VCPUs), cmp.Compare(a.RAM, b.RAM), cmp.Compare(a.Disk, b.Disk), cmp.Compare(a.ID, b.ID))
	})
}

func (a *Adapter) listFlavors(ctx context.Context, sc *gophercloud.ServiceClient) ([]flavor, error) {
	var out []flavor
	err := flavors.ListDetail(sc, flavors.ListOpts{}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		var s struct {
			Flavors []flavor `json:"flavors"`
		}
		if err := p.(flavors.FlavorPage).ExtractInto(&s); err != nil {
			return false, err
		}
		out = append(out, s.Flavors...)
		return true, nil
	})
	if err != nil {
		return nil, nativeErr("list flavors", err)
	}
	return out, nil
}

func (a *Adapter) getFlavor(ctx context.Context, sc *gophercloud.ServiceClient, id string) (flavor, error) {
	var s struct {
		Flavor flavor `json:"flavor"`
	}
	if err := flavors.Get(ctx, sc, id).ExtractInto(&s); err != nil {
		return flavor{}, nativeErr("get flavor", err)
	}
	return s.Flavor, nil
}

// serverFlavor returns the flavor the job's server srv has. Nova keeps
// a server's flavor when an operator deletes the flavor (flavors are
// retired that way; GET /flavors/{id} then answers 404), and the server
// runs on: that 404 does not say the job's resource is gone, which is
// what a not_found from Status tells the broker (it fails the job and
// leaves the server running, nobody's). The flavor is then the one the
// job recorded, with the sizes it was granted; a flavor the job has not
// recorded (a resize to it not yet read back) is a provider failure to
// retry, not a loss.
func (a *Adapter) serverFlavor(ctx context.Context, sc *gophercloud.ServiceClient, srv *servers.Server, res *contract.Resource) (flavor, error) {
	fid, _ := srv.Flavor["id"].(string)
	if fid == "" {
		fid = res.Native[nativeFlavorID]
	}
	f, err := a.getFlavor(ctx, sc, fid)
	if err == nil || contract.KindOf(err) != contract.KindNotFound {
		return f, err
	}
	g := res.Granted.IaaS
	if fid != res.Native[nativeFlavorID] || g == nil || g.Compute == nil {
		return flavor{}, &contract.Error{Kind: contract.KindServer, Op: "get flavor", Status: statusOf(err),
			Err: fmt.Errorf("flavor %s of server %s is no longer listed by Nova", fid, srv.ID)}
	}
	f = flavor{ID: fid}
	if g.Compute.Cores != nil {
		f.VCPUs = int(*g.Compute.Cores)
	}
	if g.Compute.Memory != nil {
		f.RAM = int(*g.Compute.Memory) * 1024
	}
	if g.Storage != nil && g.Storage.Size != nil {
		f.Disk = int(*g.Storage.Size)
	}
	return f, nil
}

// fittingFlavor returns the smallest enabled flavor that meets n, or a
// capacity error for op.
func (a *Adapter) fittingFlavor(ctx context.Context, sc *gophercloud.ServiceClient, op string, n need) (flavor, error) {
	fl, err := a.listFlavors(ctx, sc)
	if err != nil {
		return flavor{}, err
	}
	f, ok := smallestFitting(fl, n)
	if !ok {
		return flavor{}, &contract.Error{Kind: contract.KindCapacity, Op: op, Err: fmt.Errorf("no flavor offers %s", n)}
	}
	return f, nil
}

// serverNameRE is what the adapter accepts as a server name from
// <hostname>: a DNS label or name, so it is also a valid hostname.
var serverNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$`)

// hostLabel turns s into a valid host name: characters other than
// letters, digits, '.' and '-' become '-', at most 63 bytes, no leading or
// trailing '-' or '.'.
func hostLabel(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	out := strings.Trim(string(b), "-.")
	if out == "" {
		out = "csb"
	}
	return out
}

func (a *Adapter) provisionServer(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	x := req.Want.IaaS
	if err := unsupportedIaaS(x, false); err != nil {
		return nil, err
	}
	sc, err := a.s.computeClient(ctx)
	if err != nil {
		return nil, err
	}
	n, err := needOf(x)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindCapacity, Op: "provision", Err: err}
	}
	f, err := a.fittingFlavor(ctx, sc, "provision", n)
	if err != nil {
		return nil, err
	}
	image, err := a.imageFor(x)
	if err != nil {
		return nil, err
	}
	name := a.serverName(req)
	if !serverNameRE.MatchString(name) {
		return nil, &contract.Error{Kind: contract.KindClient, Op: "provision", Err: fmt.Errorf("hostname %q is not a valid host name", name)}
	}
	opts := servers.CreateOpts{
		Name:             name,
		ImageRef:         image,
		FlavorRef:        f.ID,
		SecurityGroups:   a.cfg.SecurityGroups,
		AvailabilityZone: a.cfg.AvailabilityZone,
		Metadata:         map[string]string{"csb-job": req.JobID},
	}
	if req.Owner != "" && len(req.Owner) <= 255 {
		opts.Metadata["csb-owner"] = req.Owner
	}
	if p := req.ProviderID; p != "" && len(p) <= 255 {
		opts.Metadata[providerTag] = p
	}
	if len(a.cfg.Networks) > 0 {
		nets := make([]servers.Network, len(a.cfg.Networks))
		for i, id := range a.cfg.Networks {
			nets[i] = servers.Network{UUID: id}
		}
		opts.Networks = nets
	}
	var builder servers.CreateOptsBuilder = opts
	if a.cfg.KeyName != "" {
		builder = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: a.cfg.KeyName}
	}
	// Nova has no idempotency token: a create whose answer was lost (an
	// earlier attempt of this job at this provider) may have made the
	// server all the same. Take the job's server when there is one
	// rather than make a second. One in ERROR or being deleted (a failed
	// attempt's, which the broker removes) is not taken.
	live, err := jobServers(ctx, sc, name, req.JobID, req.ProviderID)
	if err != nil {
		return nil, err
	}
	for _, srv := range live {
		if srv.Status == "ERROR" || srv.TaskState == "deleting" {
			continue
		}
		fid, _ := srv.Flavor["id"].(string)
		have, err := a.getFlavor(ctx, sc, fid)
		if err != nil {
			return nil, err
		}
		img, _ := srv.Image["id"].(string)
		return serverResource(sc, x, srv.ID, have, img, srv.Name), nil
	}
	// Create is a POST, never retried: a retry could make two servers.
	srv, err := servers.Create(ctx, sc, builder, nil).Extract()
	if err != nil {
		if st := statusOf(err); st >= 400 && st < 500 {
			return nil, novaCreateErr(err) // Nova refused it: nothing was made
		}
		// No answer, or a failed one: Nova may have made the server. The
		// Resource names it by job and name, so that Remove finds and
		// deletes it.
		lost := serverResource(sc, x, "", f, image, name)
		lost.URI = sc.ServiceURL("servers")
		delete(lost.Native, nativeServerID)
		lost.Native[nativeJob], lost.Native[nativeServerName], lost.Native[nativeProvider] = req.JobID, name, req.ProviderID
		return lost, novaCreateErr(err)
	}
	return serverResource(sc, x, srv.ID, f, image, name), nil
}

// providerTag is the server metadata item that names the provider (the
// broker's provider id) that made a server. Two providers may front the
// same project; a job moved from one to the other keeps its id, and the
// move removes the original: neither provider's look-up may take the
// other's server for the job.
const providerTag = "csb-provider"

// jobServers lists the servers named name whose csb-job metadata is job,
// made by provider (csb-provider; a server without the item, made before
// servers carried it, is taken for any), leaving out deleted ones. Nova's
// name filter is a regular expression: the name is quoted and anchored.
func jobServers(ctx context.Context, sc *gophercloud.ServiceClient, name, job, provider string) ([]servers.Server, error) {
	pages, err := servers.List(sc, servers.ListOpts{Name: "^" + regexp.QuoteMeta(name) + "$"}).AllPages(ctx)
	if err != nil {
		return nil, nativeErr("list servers", err)
	}
	list, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, nativeErr("list servers", err)
	}
	var out []servers.Server
	for _, srv := range list {
		if p, tagged := srv.Metadata[providerTag]; tagged && p != provider {
			continue
		}
		if srv.Metadata["csb-job"] == job && srv.Status != "DELETED" && srv.Status != "SOFT_DELETED" {
			out = append(out, srv)
		}
	}
	return out, nil
}

// resolve returns res with its server id: res itself, or, for the
// Resource of a create that went unanswered (no server id, nativeJob),
// res with the id of the job's server Nova lists. False when Nova lists
// none.
func (a *Adapter) resolve(ctx context.Context, res *contract.Resource) (*contract.Resource, bool, error) {
	if res.Native[nativeServerID] != "" || res.Native[nativeJob] == "" {
		return res, true, nil
	}
	sc, err := a.s.computeClient(ctx)
	if err != nil {
		return nil, false, err
	}
	live, err := jobServers(ctx, sc, res.Native[nativeServerName], res.Native[nativeJob], res.Native[nativeProvider])
	if err != nil || len(live) == 0 {
		return res, false, err
	}
	out := res.Clone()
	out.Native[nativeServerID] = live[0].ID
	delete(out.Native, nativeJob)
	delete(out.Native, nativeServerName)
	delete(out.Native, nativeProvider)
	out.URI = serverURL(sc, live[0].ID)
	return out, true, nil
}

// serverResource is the Resource of a new server id named name, of
// flavor f booted from image, made for request x: pending until ACTIVE.
func serverResource(sc *gophercloud.ServiceClient, x *csbmsg.IaaS, id string, f flavor, image, name string) *contract.Resource {
	return &contract.Resource{
		URI:   serverURL(sc, id),
		State: contract.StatePending,
		Native: map[string]string{
			nativeKind:     kindServer,
			nativeServerID: id,
			nativeFlavorID: f.ID,
			nativeImageID:  image,
			nativeWant:     "ACTIVE",
		},
		Granted: csbmsg.ServiceRequest{IaaS: grantFromFlavor(x, f, name)},
	}
}

// novaCreateErr classifies a failed server create (novaQuotaErr).
func novaCreateErr(err error) error { return novaQuotaErr("create server", err) }

// novaQuotaErr classifies a failed call that takes room in the project's
// quota (a create, a resize to a larger flavor): Nova answers 403 (or
// 413 before microversion 2.1) with "Quota exceeded" when the project has
// no room.
func novaQuotaErr(op string, err error) error {
	var uerr gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &uerr) && (uerr.Actual == http.StatusForbidden || uerr.Actual == http.StatusRequestEntityTooLarge) &&
		strings.Contains(strings.ToLower(string(uerr.Body)), "quota exceeded") {
		return &contract.Error{Kind: contract.KindCapacity, Op: op, Status: uerr.Actual, Err: errors.New(faultMessage(uerr.Body))}
	}
	return nativeErr(op, err)
}

// unsupportedIaaS refuses IaaS elements and actions Nova alone cannot
// express (see the mapping table).
func unsupportedIaaS(x *csbmsg.IaaS, update bool) error {
	uns := func(format string, args ...any) error {
		return &contract.Error{Kind: contract.KindUnsupported, Op: "iaas", Err: fmt.Errorf(format, args...)}
	}
	if x.Link != nil {
		return uns("an IaaS <Link> (OVF descriptor) is expanded by the ovf adapter, not by openstack")
	}
	if x.Network != nil && x.Network.Action != nil {
		return uns("network action %q needs Neutron, which this adapter does not drive", *x.Network.Action)
	}
	if x.Storage != nil && x.Storage.Action != nil {
		switch *x.Storage.Action {
		case csbmsg.StorageActResize, csbmsg.StorageActSnapshot:
		default:
			return uns("storage action %q has no Nova equivalent", *x.Storage.Action)
		}
	}
	if !update && x.Compute != nil && x.Compute.Action != nil {
		return uns("compute action %q applies to an existing job (update)", *x.Compute.Action)
	}
	return nil
}

func (a *Adapter) imageFor(x *csbmsg.IaaS) (string, error) {
	arch := ""
	if x.Compute != nil && x.Compute.Architecture != nil {
		arch = *x.Compute.Architecture
	}
	return model.Image(a.cfg.ArchImages, a.cfg.Image, arch, "image", "servers (image)")
}

// grantFromFlavor is what a server of flavor f grants for request x.
func grantFromFlavor(x *csbmsg.IaaS, f flavor, name string) *csbmsg.IaaS {
	g := &csbmsg.IaaS{Compute: &csbmsg.Compute{
		Cores:    u64(uint64(f.VCPUs)),
		Memory:   u64(uint64(f.RAM / 1024)),
		Hostname: &name,
	}}
	if x.Compute != nil && x.Compute.Architecture != nil {
		g.Compute.Architecture = x.Compute.Architecture
	}
	if x.Storage != nil || f.Disk > 0 {
		g.Storage = &csbmsg.Storage{Size: u64(uint64(f.Disk))}
	}
	return g
}

func u64(v uint64) *uint64 { return &v }

func serverURL(sc *gophercloud.ServiceClient, id string) string {
	return sc.ServiceURL("servers", url.PathEscape(id))
}

// novaStates maps a Nova server status to the resource state and the CSB
// compute status (the declarative status table of README).
var novaStates = map[string]model.StateOf{
	"BUILD":             {State: contract.StatePending, Compute: csbmsg.ComputeInactive},
	"ACTIVE":            {State: contract.StateReady, Compute: csbmsg.ComputeActive},
	"REBOOT":            {State: contract.StatePending, Compute: csbmsg.ComputeActive},
	"HARD_REBOOT":       {State: contract.StatePending, Compute: csbmsg.ComputeActive},
	"REBUILD":           {State: contract.StatePending, Compute: csbmsg.ComputeInactive},
	"RESIZE":            {State: contract.StatePending, Compute: csbmsg.ComputeActive},
	"VERIFY_RESIZE":     {State: contract.StatePending, Compute: csbmsg.ComputeActive},
	"REVERT_RESIZE":     {State: contract.StatePending, Compute: csbmsg.ComputeActive},
	"MIGRATING":         {State: contract.StatePending, Compute: csbmsg.ComputeActive},
	"PASSWORD":          {State: contract.StatePending, Compute: csbmsg.ComputeActive},
	"SHUTOFF":           {State: contract.StateReady, Compute: csbmsg.ComputeInactive},
	"SUSPENDED":         {State: contract.StateReady, Compute: csbmsg.ComputeSuspended},
	"PAUSED":            {State: contract.StateReady, Compute: csbmsg.ComputeSuspended},
	"SHELVED":           {State: contract.StateReady, Compute: csbmsg.ComputeInactive},
	"SHELVED_OFFLOADED": {State: contract.StateReady, Compute: csbmsg.ComputeInactive},
	"RESCUE":            {State: contract.StateReady, Compute: csbmsg.ComputeInactive},
	"ERROR":             {State: contract.StateFailed, Compute: csbmsg.ComputeInactive},
	"UNKNOWN":           {State: contract.StateFailed, Compute: csbmsg.ComputeInactive},
	"DELETED":           {State: contract.StateGone, Compute: csbmsg.ComputeInactive},
	"SOFT_DELETED":      {State: contract.StateGone, Compute: csbmsg.ComputeInactive},
}

// novaAction is one server action call.
type novaAction string

const (
	actStart      novaAction = "os-start"
	actStop       novaAction = "os-stop"
	actSoftReboot novaAction = "reboot SOFT"
	actHardReboot novaAction = "reboot HARD"
	actSuspend    novaAction = "suspend"
	actResume     novaAction = "resume"
	actUnpause    novaAction = "unpause"
	actUnshelve   novaAction = "unshelve"
)

// computeActions maps a CSB compute action and the server's current Nova
// status to the Nova action to send ("" = already there) and the status
// the server then reaches. A status missing from From means the action is
// not possible from it (Nova would answer 409).
var computeActions = map[csbmsg.ComputeAction]model.ActionRule[string, novaAction]{
	csbmsg.ComputeStart: {From: map[string]novaAction{
		"ACTIVE": "", "SHUTOFF": actStart, "SUSPENDED": actResume, "PAUSED": actUnpause,
		"SHELVED": actUnshelve, "SHELVED_OFFLOADED": actUnshelve,
	}, Target: "ACTIVE"},
	csbmsg.ComputeStop: {From: map[string]novaAction{
		"SHUTOFF": "", "ACTIVE": actStop, "ERROR": actStop, "RESCUE": actStop,
	}, Target: "SHUTOFF"},
	csbmsg.ComputeRestart: {From: map[string]novaAction{
		"ACTIVE": actSoftReboot, "SHUTOFF": actStart, "SUSPENDED": actHardReboot, "PAUSED": actHardReboot, "ERROR": actHardReboot,
	}, Target: "ACTIVE"},
	csbmsg.ComputeSuspend: {From: map[string]novaAction{
		"SUSPENDED": "", "ACTIVE": actSuspend, "PAUSED": actSuspend,
	}, Target: "SUSPENDED"},
}

func (a *Adapter) doAction(ctx context.Context, sc *gophercloud.ServiceClient, id string, act novaAction) error {
	var err error
	switch act {
	case actStart:
		err = servers.Start(ctx, sc, id).ExtractErr()
	case actStop:
		err = servers.Stop(ctx, sc, id).ExtractErr()
	case actSoftReboot:
		err = servers.Reboot(ctx, sc, id, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr()
	case actHardReboot:
		err = servers.Reboot(ctx, sc, id, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr()
	case actSuspend:
		err = servers.Suspend(ctx, sc, id).ExtractErr()
	case actResume:
		err = servers.Resume(ctx, sc, id).ExtractErr()
	case actUnpause:
		err = servers.Unpause(ctx, sc, id).ExtractErr()
	case actUnshelve:
		err = servers.Unshelve(ctx, sc, id, nil).ExtractErr()
	default:
		return fmt.Errorf("unknown nova action %q", act)
	}
	return nativeErr(string(act), err)
}

// jobServer reads the resource's server through the compute client: the
// client, the server id and the server, or the error of either step
// unclassified (an *contract.Error from the client, else Nova's).
func (a *Adapter) jobServer(ctx context.Context, res *contract.Resource) (*gophercloud.ServiceClient, string, *servers.Server, error) {
	sc, err := a.s.computeClient(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	id := res.Native[nativeServerID]
	srv, err := servers.Get(ctx, sc, id).Extract()
	return sc, id, srv, err
}

func (a *Adapter) serverStatus(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	res, found, err := a.resolve(ctx, res)
	switch {
	case err != nil:
		return nil, err
	case !found:
		out := res.Clone()
		out.State = contract.StateGone
		return out, nil
	}
	sc, id, srv, err := a.jobServer(ctx, res)
	if err != nil {
		if !nativeerr.Settled(err) && gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			out := res.Clone()
			out.State = contract.StateGone
			return out, nil
		}
		return nil, nativeErr("get server", err)
	}
	out := res.Clone()
	// A resize waits for confirmation; the broker asked for it, so
	// confirm it and keep polling.
	if srv.Status == "VERIFY_RESIZE" && srv.TaskState == "" {
		if err := servers.ConfirmResize(ctx, sc, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
			return nil, nativeErr("confirm resize", err)
		}
		out.State = contract.StatePending
		return out, nil
	}
	st, known := novaStates[srv.Status]
	if !known {
		st.State, st.Compute = contract.StatePending, csbmsg.ComputeInactive
	}
	out.State = st.State
	// A task in progress (powering-off, rebooting, ...) or a status not
	// yet at the one the last action aims for means "not done yet".
	if out.State == contract.StateReady && (srv.TaskState != "" || (res.Native[nativeWant] != "" && res.Native[nativeWant] != srv.Status)) {
		out.State = contract.StatePending
	}
	if out.State == contract.StateReady {
		delete(out.Native, nativeWant)
	}
	if srv.Status == "ERROR" && srv.Fault.Message != "" {
		out.Native[nativeFault] = srv.Fault.Message
	}
	// Follow the flavor the server actually has (it changes on resize).
	f, err := a.serverFlavor(ctx, sc, srv, res)
	if err != nil {
		return nil, err
	}
	out.Native[nativeFlavorID] = f.ID
	want := res.Granted.IaaS
	if want == nil {
		want = &csbmsg.IaaS{}
	}
	g := grantFromFlavor(want, f, srv.Name)
	cs := st.Compute
	g.Compute.Status = &cs
	addAddresses(g, want, srv)
	out.Granted = csbmsg.ServiceRequest{IaaS: g}
	return out, nil
}

// addAddresses reports the server's first fixed address as <network> and
// <NetworkInterface> when the grant or request has them, or when the
// server has one.
func addAddresses(g, want *csbmsg.IaaS, srv *servers.Server) {
	nets := make([]string, 0, len(srv.Addresses))
	for n := range srv.Addresses {
		nets = append(nets, n)
	}
	slices.Sort(nets)
	for _, n := range nets {
		list, _ := srv.Addresses[n].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			addr, _ := m["addr"].(string)
			if addr == "" {
				continue
			}
			alloc := csbmsg.AllocationDynamic
			if t, _ := m["OS-EXT-IPS:type"].(string); t == "floating" {
				alloc = csbmsg.AllocationStatic
			}
			active := csbmsg.NetworkActive
			netName := n
			g.Network = &csbmsg.Network{VLANLabel: model.NMToken(netName), Address: &addr, Allocation: &alloc, Status: &active}
			ni := &csbmsg.NetworkInterface{IP: &addr, Allocation: &alloc, Status: &active}
			if mac, _ := m["OS-EXT-IPS-MAC:mac_addr"].(string); mac != "" {
				ni.MAC = &mac
			}
			g.NetworkInterface = ni
			return
		}
	}
}

func (a *Adapter) updateServer(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	x := req.Want.IaaS // not nil: see model.Route.Update
	if err := unsupportedIaaS(x, true); err != nil {
		return nil, err
	}
	res, found, err := a.resolve(ctx, res)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, &contract.Error{Kind: contract.KindNotFound, Op: "update", Err: errors.New("the job's server is gone")}
	}
	sc, id, srv, err := a.jobServer(ctx, res)
	if err != nil {
		return nil, nativeErr("get server", err)
	}
	out := res.Clone()

	// Resize: a new size that the current flavor does not match exactly.
	n, err := needOf(x)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindCapacity, Op: "resize", Err: err}
	}
	resize := (x.Storage != nil && x.Storage.Action != nil && *x.Storage.Action == csbmsg.StorageActResize) || n != (need{})
	var action *csbmsg.ComputeAction
	if x.Compute != nil {
		action = x.Compute.Action
	}
	snapshot := x.Storage != nil && x.Storage.Action != nil && *x.Storage.Action == csbmsg.StorageActSnapshot
	if (resize && action != nil) || (snapshot && (resize || action != nil)) {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: errors.New("one change per update: a resize, a snapshot, or a compute action")}
	}
	if err := a.unchangeable(x, res, srv); err != nil {
		return nil, err
	}
	switch {
	case resize:
		// The broker hands over the update's own elements: the sizes it
		// does not name stay at least the server's.
		have, err := a.serverFlavor(ctx, sc, srv, res)
		if err != nil {
			return nil, err
		}
		if n.cores == 0 {
			n.cores = have.VCPUs
		}
		if n.ramMiB == 0 {
			n.ramMiB = have.RAM
		}
		if n.diskGB == 0 {
			n.diskGB = have.Disk
		}
		f, err := a.fittingFlavor(ctx, sc, "resize", n)
		if err != nil {
			return nil, err
		}
		if cur, _ := srv.Flavor["id"].(string); f.ID == cur || (cur == "" && f.ID == res.Native[nativeFlavorID]) {
			return a.serverStatus(ctx, res) // already that size
		}
		if err := servers.Resize(ctx, sc, id, servers.ResizeOpts{FlavorRef: f.ID}).ExtractErr(); err != nil {
			return nil, novaQuotaErr("resize", err)
		}
		out.Native[nativeWant] = "ACTIVE"
		out.Native[nativeFlavorID] = f.ID
		out.State = contract.StatePending
		return out, nil
	case snapshot:
		name := fmt.Sprintf("%s-snapshot-%d", srv.Name, a.clock.Now().Unix())
		imageID, err := servers.CreateImage(ctx, sc, id, servers.CreateImageOpts{Name: name, Metadata: map[string]string{"csb-job": req.JobID}}).ExtractImageID()
		if err != nil {
			return nil, nativeErr("create image", err)
		}
		out.Native[nativeSnapshot] = imageID
		return a.serverStatusKeep(ctx, out)
	case action != nil:
		rule, ok := computeActions[*action]
		if !ok {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf("compute action %q", *action)}
		}
		act, ok := rule.From[srv.Status]
		if !ok || srv.TaskState != "" {
			return nil, &contract.Error{Kind: contract.KindClient, Op: string(*action), Status: http.StatusConflict,
				Err: fmt.Errorf("server is %s%s: cannot %s it now", srv.Status, taskSuffix(srv.TaskState), *action)}
		}
		if act != "" {
			if err := a.doAction(ctx, sc, id, act); err != nil {
				return nil, err
			}
		}
		out.Native[nativeWant] = rule.Target
		if act == actSoftReboot || act == actHardReboot {
			// A reboot starts and ends in ACTIVE; Status waits for the
			// reboot task to clear.
			out.Native[nativeWant] = "ACTIVE"
		}
		out.State = contract.StatePending
		if act == "" {
			return a.serverStatus(ctx, out)
		}
		return out, nil
	}
	return a.serverStatus(ctx, res)
}

// unchangeable refuses an update that names a hostname other than the
// server's name, or an architecture whose image is not the server's: an
// update changes neither (a rename or a rebuild), and the broker records
// the update's request as done.
func (a *Adapter) unchangeable(x *csbmsg.IaaS, res *contract.Resource, srv *servers.Server) error {
	c := x.Compute
	if c == nil {
		return nil
	}
	uns := func(format string, args ...any) error {
		return &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf(format, args...)}
	}
	if c.Hostname != nil && *c.Hostname != srv.Name {
		return uns("hostname %q: the server is %q; an update does not rename it", *c.Hostname, srv.Name)
	}
	if c.Architecture != nil {
		img, err := a.imageFor(x)
		if err != nil {
			return err
		}
		have := res.Native[nativeImageID]
		var granted *string
		if g := res.Granted.IaaS; g != nil && g.Compute != nil {
			granted = g.Compute.Architecture
		}
		if (have != "" && img != have) || (have == "" && granted != nil && *granted != *c.Architecture) {
			return uns("architecture %q: the server was built from another image; an update does not rebuild it", *c.Architecture)
		}
	}
	return nil
}

// serverStatusKeep reads the status and keeps res's Native additions.
func (a *Adapter) serverStatusKeep(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	out, err := a.serverStatus(ctx, res)
	if err != nil {
		return nil, err
	}
	for k, v := range res.Native {
		if _, ok := out.Native[k]; !ok {
			out.Native[k] = v
		}
	}
	return out, nil
}

func taskSuffix(task string) string {
	if task == "" {
		return ""
	}
	return " (" + task + ")"
}

func (a *Adapter) removeServer(ctx context.Context, res *contract.Resource) error {
	id := res.Native[nativeServerID]
	if id == "" && res.Native[nativeJob] == "" {
		return nil
	}
	sc, err := a.s.computeClient(ctx)
	if err != nil {
		return err
	}
	ids := []string{id}
	if id == "" {
		// A create that went unanswered: delete what Nova made of it.
		live, err := jobServers(ctx, sc, res.Native[nativeServerName], res.Native[nativeJob], res.Native[nativeProvider])
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, srv := range live {
			ids = append(ids, srv.ID)
		}
	}
	for _, id := range ids {
		err = servers.Delete(ctx, sc, id).ExtractErr()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nativeErr("delete server", err)
		}
	}
	return nil
}

// discoverFlavors turns each enabled flavor into an IaaS service.
func (a *Adapter) discoverFlavors(ctx context.Context) ([]csbmsg.Service, error) {
	sc, err := a.s.computeClient(ctx)
	if err != nil {
		return nil, err
	}
	fl, err := a.listFlavors(ctx, sc)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(fl, func(a, b flavor) int {
		return cmp.Or(cmp.Compare(a.VCPUs, b.VCPUs), cmp.Compare(a.RAM, b.RAM), cmp.Compare(a.Disk, b.Disk), cmp.Compare(a.ID, b.ID))
	})
	var out []csbmsg.Service
	for _, f := range fl {
		if f.Disabled {
			continue
		}
		s := csbmsg.Service{
			ID:     flavorServiceID(f.ID),
			Status: csbmsg.ServiceActive,
			URI:    sc.ServiceURL("flavors", url.PathEscape(f.ID)),
			IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{
				Cores:  u64(uint64(f.VCPUs)),
				Memory: u64(uint64(f.RAM / 1024)),
			}},
		}
		if f.Disk > 0 {
			s.IaaS.Storage = &csbmsg.Storage{Size: u64(uint64(f.Disk))}
		}
		out = append(out, s)
	}
	return out, nil
}

// flavorServiceID makes an NMTOKEN service id from a flavor id.
func flavorServiceID(id string) string {
	var b strings.Builder
	b.WriteString("flavor-")
	for _, r := range id {
		if r < 0x80 && model.NMToken(string(r)) != nil {
			b.WriteRune(r)
		} else {
			b.WriteString("_" + strconv.FormatInt(int64(r), 16) + "_")
		}
	}
	return b.String()
}

// faultMessage extracts the message of a Nova error body such as
// {"forbidden": {"code": 403, "message": "Quota exceeded ..."}}.
func faultMessage(body []byte) string {
	var m map[string]struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil {
		for _, v := range m {
			if v.Message != "" {
				return v.Message
			}
		}
	}
	return strings.TrimSpace(string(body))
}
