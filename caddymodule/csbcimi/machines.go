package csbcimi

// Machines: a Machine is a broker job whose request holds compute.

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/durparam"
)

// The broker's properties keys. A MachineCreate may set PropProvider and
// PropLease; an update (PUT) may set PropLease to renew the lease. The
// broker shows all of them on every Machine; other csb.* keys are
// refused.
const (
	// PropProvider names the provider to place the machine on (several,
	// comma-separated: one of them). Placement still checks the offer.
	PropProvider = "csb.provider"
	// PropLease asks for a lease (a Go duration, "2h", or seconds): on
	// create it is the machine's lease, on update it renews the lease for
	// that long. It is clamped to the jobs block's lease_min/lease_max.
	PropLease = "csb.lease"
	// PropService is the provider's service the machine was placed on
	// (read only).
	PropService = "csb.service"
	// PropExpires is when the lease ends, RFC 3339 (read only); the
	// machine is deleted then unless the lease is renewed.
	PropExpires = "csb.lease_expires"
	// PropStatus is the broker job's status (read only).
	PropStatus = "csb.job_status"
	// PropPolicy names, on create, the placement policy that places the
	// machine, one of csb_cimi's policies; default the broker's own.
	PropPolicy = "csb.policy"
)

// Labels the front-end keeps on a job (jobs.Job.Labels).
const (
	labelName   = "cimi.name"
	labelDesc   = "cimi.description"
	labelProp   = "cimi.property."
	labelPolicy = "cimi.policy"
)

const kibPerGB = 1 << 20

// kibToGB rounds a size in KiB (CIMI's unit) up to whole GB (the
// broker's), without the overflow of (kib+kibPerGB-1)/kibPerGB, which
// turned a size near 2^64 KiB into 0 GB: a request for nothing.
func kibToGB(kib uint64) uint64 {
	if kib == 0 {
		return 0
	}
	return (kib-1)/kibPerGB + 1
}

// createCommon is what every DSP0263 *Create carries besides its
// template: the new resource's name, description and properties.
type createCommon struct {
	Name        string `json:"name" xml:"name"`
	Description string `json:"description" xml:"description"`
	Properties  props  `json:"properties" xml:"property"`
}

// machineCreate is DSP0263's MachineCreate.
type machineCreate struct {
	createCommon
	MachineTemplate *machineTemplate `json:"machineTemplate" xml:"machineTemplate"`
}

type machineTemplate struct {
	Href          string           `json:"href" xml:"href,attr"`
	MachineConfig *machineConfigIn `json:"machineConfig" xml:"machineConfig"`
	MachineImage  *ref             `json:"machineImage" xml:"machineImage"`
	InitialState  string           `json:"initialState" xml:"initialState"`
	// VolumeTemplates are volumes to create and attach with the machine
	// (at most one); Volumes are existing volumes to attach (not served).
	VolumeTemplates []volumeTemplate   `json:"volumeTemplates" xml:"volumeTemplate"`
	Volumes         []machineVolumeRef `json:"volumes" xml:"volume"`
	// Attributes the broker cannot honour: given, the create is refused
	// (501) rather than made without them.
	NetworkInterfaces presence `json:"networkInterfaces" xml:"networkInterface"`
	Credential        presence `json:"credential" xml:"credential"`
	UserData          presence `json:"userData" xml:"userData"`
	Meters            presence `json:"meterTemplates" xml:"meterTemplate"`
	EventLog          presence `json:"eventLogTemplate" xml:"eventLogTemplate"`
}

// presence records whether an attribute was given with a value (not
// null, not an empty array).
type presence struct{ set bool }

func (p *presence) UnmarshalJSON(data []byte) error {
	s := strings.Join(strings.Fields(string(data)), "")
	p.set = p.set || s != "null" && s != "[]" && s != "{}" && s != `""`
	return nil
}

func (p *presence) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	p.set = true
	return d.Skip()
}

type machineConfigIn struct {
	Href    string   `json:"href" xml:"href,attr"`
	CPU     uint64   `json:"cpu" xml:"cpu"`
	Memory  uint64   `json:"memory" xml:"memory"`
	CPUArch string   `json:"cpuArch" xml:"cpuArch"`
	Disks   presence `json:"disks" xml:"disk"`
}

// machineUpdate is the body of a PUT on a Machine.
type machineUpdate struct {
	Name        *string `json:"name" xml:"name"`
	Description *string `json:"description" xml:"description"`
	Properties  props   `json:"properties" xml:"property"`
}

// action is DSP0263's Action body.
type action struct {
	Action string `json:"action" xml:"action"`
}

// isMachine reports whether a job is a Machine: an IaaS job asking for
// compute.
func isMachine(j *jobs.Job) bool {
	return j.Kind == catalog.KindIaaS && j.Request.IaaS != nil && j.Request.IaaS.Compute != nil
}

// ownMachine reads owner's machine id; unknown, foreign, ended and
// non-machine jobs are all 404.
func (c *call) ownMachine(id string, observe bool) (*jobs.Job, string, error) {
	var j *jobs.Job
	var state string
	var err error
	if observe {
		j, state, err = c.m.MachineState(c.ctx, c.owner, id)
	} else {
		j, err = c.m.Get(c.ctx, c.owner, id)
	}
	if j, err = owned(j, err, id, "machine", isMachine); err != nil {
		return nil, "", err
	}
	return j, state, nil
}

// owned checks a job read for its owner (j, or the read's err) as one of
// the owner's live resources of a kind (is; what names it): unknown,
// foreign, ended and other jobs are all 404.
func owned(j *jobs.Job, err error, id, what string, is func(*jobs.Job) bool) (*jobs.Job, error) {
	switch {
	case errors.Is(err, jobs.ErrNoJob):
		return nil, errorf(http.StatusNotFound, "no %s %q", what, id)
	case err != nil:
		return nil, err
	case !is(j) || j.Status.Final():
		return nil, errorf(http.StatusNotFound, "no %s %q", what, id)
	}
	return j, nil
}

// machineState is the Machine.state shown for j: the provider's (live)
// when given, else what the job records.
func machineState(j *jobs.Job, live string) string {
	switch {
	case j.Status.InFlight():
		return contract.MachineCreating
	case j.Status == jobs.StatusFailed:
		return contract.MachineError
	case j.Status.Final():
		return "DELETED"
	case live != "":
		return live
	case j.Resource != nil:
		return jobs.MachineStateOf(j.Resource)
	}
	return contract.MachineStarted
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// machineObj renders a job as a Machine.
func (c *call) machineObj(j *jobs.Job, live string) obj {
	href := c.base + "machines/" + j.ID
	state := machineState(j, live)
	o := c.jobObj("Machine", "machines", j, state)
	if d := j.Labels[labelDesc]; d != "" {
		o["description"] = d
	}
	if g := j.Granted().IaaS; g != nil && g.Compute != nil {
		if g.Compute.Cores != nil {
			o["cpu"] = *g.Compute.Cores
		}
		if g.Compute.Memory != nil {
			o["memory"] = *g.Compute.Memory * kibPerGB
		}
		if g.Compute.Architecture != nil {
			o["cpuArch"] = *g.Compute.Architecture
		}
	}
	p := props{PropStatus: string(j.Status)}
	for k, v := range j.Labels {
		if strings.HasPrefix(k, labelProp) {
			p[strings.TrimPrefix(k, labelProp)] = v
		}
	}
	if j.ProviderID != "" {
		p[PropProvider] = j.ProviderID
		p[PropService] = j.ServiceID
	}
	if !j.Expires.IsZero() && j.Status == jobs.StatusSuccess {
		p[PropExpires] = stamp(j.Expires)
	}
	p[PropLease] = strconv.FormatUint(j.LeaseSeconds, 10)
	if pol := j.Labels[labelPolicy]; pol != "" {
		p[PropPolicy] = pol
	}
	o["properties"] = p
	// The operations are those the machine takes now (DSP0263 5.1.1):
	// the engine removes only a job that is not being created and not
	// busy with another operation, and acts only on a settled successful
	// one (jobs.Manager.Remove and Act answer 409 otherwise).
	ops := []op{{Rel: "edit", Href: href}}
	if settled(j) {
		ops = append(ops, op{Rel: "delete", Href: href})
	}
	if settled(j) && j.Status == jobs.StatusSuccess {
		for _, a := range actionsIn[state] {
			ops = append(ops, op{Rel: ActionNS + a, Href: href + "/" + a})
		}
	}
	o["operations"] = ops
	o["volumes"] = ref{Href: href + "/volumes"}
	return o
}

// settled reports whether a job is neither being created nor busy with
// another operation (a removal, an update, a move): only then does the
// engine take a delete, an action, an attach or a detach.
func settled(j *jobs.Job) bool { return !j.Status.InFlight() && j.Op == nil }

// jobObj is what a Machine and a Volume, each a job, share: the
// resource type, the id in collection, the name (the job's label, else
// csb-<job id>), the times and the state.
func (c *call) jobObj(typ, collection string, j *jobs.Job, state string) obj {
	name := j.Labels[labelName]
	if name == "" {
		name = "csb-" + j.ID
	}
	return obj{
		"resourceURI": NS + "/" + typ,
		"id":          c.base + collection + "/" + j.ID,
		"name":        name,
		"created":     stamp(j.Created),
		"updated":     stamp(j.Updated),
		"state":       state,
	}
}

// remove deletes the job of a Machine or Volume at revision rev (0: any):
// 200 with the job of the delete in the CIMI-Job-URI header.
func (c *call) remove(id string, rev uint64) error {
	res, err := c.m.RemoveIf(c.ctx, c.owner, id, rev)
	if errors.Is(err, jobs.ErrChanged) {
		// Returned as it is (jobErr makes it a 412): the caller may
		// have done part of the request already, and answers otherwise.
		return err
	}
	if err != nil {
		return c.jobErr(id, err)
	}
	if res.Status != csbmsg.StatusOK {
		return errorf(http.StatusConflict, "%s", res.Reason)
	}
	c.w.Header().Set(JobHeader, c.base+"jobs/"+id+jobDelete)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// actionsIn are the actions a machine offers in each state.
var actionsIn = map[string][]string{
	contract.MachineStarted: {contract.ActionStop, contract.ActionRestart, contract.ActionSuspend},
	contract.MachineStopped: {contract.ActionStart},
	contract.MachineSuspend: {contract.ActionStart},
	"PAUSED":                {contract.ActionStart},
}

func (c *call) getMachine(id string) error {
	q, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	j, live, err := c.ownMachine(id, true)
	if err != nil {
		return err
	}
	o := c.machineObj(j, live)
	return c.serve(o, q.project(o))
}

// machines returns owner's machines, newest first, with the provider's
// state of each.
func (c *call) machines() ([]obj, error) {
	list, err := c.m.ListOwned(c.ctx, c.owner)
	if err != nil {
		return nil, err
	}
	var out []obj
	for _, j := range list {
		if !isMachine(j) || j.Status.Final() {
			continue
		}
		live := ""
		if j.Status == jobs.StatusSuccess {
			if fresh, st, err := c.m.MachineState(c.ctx, c.owner, j.ID); err == nil {
				j, live = fresh, st
			}
		}
		out = append(out, c.machineObj(j, live))
	}
	return out, nil
}

// request turns a MachineCreate into the broker's request and create
// options.
func (c *call) request(mc *machineCreate) (*csbmsg.ServiceRequest, jobs.CreateOptions, error) {
	var opt jobs.CreateOptions
	t := mc.MachineTemplate
	if t == nil {
		return nil, opt, errorf(http.StatusBadRequest, "a MachineCreate needs a machineTemplate")
	}
	if t.Href != "" {
		tpl, err := c.template(t.Href)
		if err != nil {
			return nil, opt, err
		}
		// Attributes given beside the reference override the
		// template's, and are checked below as an inline template's
		// are: dropping them would make a machine without them.
		if t.MachineConfig != nil {
			tpl.MachineConfig = t.MachineConfig
		}
		if t.MachineImage != nil {
			tpl.MachineImage = t.MachineImage
		}
		tpl.InitialState, tpl.VolumeTemplates, tpl.Volumes = t.InitialState, t.VolumeTemplates, t.Volumes
		tpl.NetworkInterfaces, tpl.Credential, tpl.UserData, tpl.Meters, tpl.EventLog = t.NetworkInterfaces, t.Credential, t.UserData, t.Meters, t.EventLog
		t = tpl
	}
	for _, u := range []struct {
		name string
		p    presence
	}{{"networkInterfaces", t.NetworkInterfaces}, {"credential", t.Credential}, {"userData", t.UserData}, {"meterTemplates", t.Meters}, {"eventLogTemplate", t.EventLog}} {
		if u.p.set {
			return nil, opt, errorf(http.StatusNotImplemented, "machineTemplate.%s is not served: the broker's providers get no %s from it, so it refuses the create rather than make a machine without it", u.name, u.name)
		}
	}
	if t.MachineConfig == nil {
		return nil, opt, errorf(http.StatusBadRequest, "the machineTemplate needs a machineConfig (by reference or inline)")
	}
	if t.MachineConfig.Disks.set {
		return nil, opt, errorf(http.StatusNotImplemented, "machineConfig.disks is not served: give a volumeTemplate for a volume attached to the machine")
	}
	cfg := *t.MachineConfig
	if cfg.Href != "" {
		known, err := c.configByHref(cfg.Href)
		if err != nil {
			return nil, opt, err
		}
		cfg = known
	}
	if cfg.CPU == 0 || cfg.Memory == 0 {
		return nil, opt, errorf(http.StatusBadRequest, "the machineConfig needs cpu and memory")
	}
	memGB := kibToGB(cfg.Memory)
	compute := &csbmsg.Compute{Cores: &cfg.CPU, Memory: &memGB}
	if cfg.CPUArch != "" {
		arch := cfg.CPUArch
		compute.Architecture = &arch
	}
	if t.InitialState != "" && !strings.EqualFold(t.InitialState, contract.MachineStarted) {
		return nil, opt, errorf(http.StatusBadRequest, "initialState %q: machines start STARTED here", t.InitialState)
	}
	access := c.h.app.ConsumerAccess(c.owner)
	if t.MachineImage != nil && t.MachineImage.Href != "" {
		im, err := c.imageByHref(t.MachineImage.Href)
		if err != nil {
			return nil, opt, err
		}
		if len(im.Providers) > 0 {
			access = restrict(access, im.Providers)
		}
	}
	opt, err := c.createOptions(mc.createCommon, access)
	if err != nil {
		return nil, opt, err
	}
	iaas := &csbmsg.IaaS{Compute: compute}
	if len(t.Volumes) > 0 {
		return nil, opt, errorf(http.StatusNotImplemented, "machineTemplate.volumes: attaching an existing volume is not served; give a volumeTemplate and the machine's provider creates and attaches the volume")
	}
	switch len(t.VolumeTemplates) {
	case 0:
	case 1:
		st, err := c.storage(&t.VolumeTemplates[0])
		if err != nil {
			return nil, opt, err
		}
		iaas.Storage = st
		link := &csbmsg.StorageLink{}
		if l := t.VolumeTemplates[0].InitialLocation; l != "" {
			link.Mountpoint = &l
		}
		iaas.StorageLink = link
	default:
		return nil, opt, errorf(http.StatusBadRequest, "machineTemplate.volumeTemplates: one volume per machine is served, not %d", len(t.VolumeTemplates))
	}
	return &csbmsg.ServiceRequest{IaaS: iaas}, opt, nil
}

// createOptions reads a create's name, description and properties into
// the job's labels, lease and provider choice.
func (c *call) createOptions(cc createCommon, access *placement.Access) (jobs.CreateOptions, error) {
	var opt jobs.CreateOptions
	labels := map[string]string{}
	if cc.Name != "" {
		labels[labelName] = cc.Name
	}
	if cc.Description != "" {
		labels[labelDesc] = cc.Description
	}
	for k, v := range cc.Properties {
		switch {
		case k == PropProvider:
			var ids []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					ids = append(ids, s)
				}
			}
			if len(ids) == 0 {
				return opt, errorf(http.StatusBadRequest, "property %s is empty", k)
			}
			access = restrict(access, ids)
		case k == PropLease:
			d, err := leaseOf(v)
			if err != nil {
				return opt, err
			}
			opt.Lease = d
		case k == PropPolicy:
			p, ok := c.h.placers[v]
			if !ok {
				names := make([]string, 0, len(c.h.placers))
				for n := range c.h.placers {
					names = append(names, n)
				}
				sort.Strings(names)
				return opt, errorf(http.StatusBadRequest, "property %s %q: this broker offers the policies %v (csb_cimi policies)", k, v, names)
			}
			opt.Placer = p
			labels[labelPolicy] = v
		case strings.HasPrefix(k, "csb."):
			return opt, errorf(http.StatusBadRequest, "property %s: unknown broker property (the broker's are %s, %s and %s)", k, PropProvider, PropLease, PropPolicy)
		default:
			labels[labelProp+k] = v
		}
	}
	opt.Access = access
	opt.Labels = labels
	return opt, nil
}

// restrict narrows access to the providers ids (keeping the user's deny
// list, and the user's allow list as a bound).
func restrict(access *placement.Access, ids []string) *placement.Access {
	out := &placement.Access{}
	if access != nil {
		out.Deny = access.Deny
		for _, id := range ids {
			if len(access.Allow) == 0 || slices.Contains(access.Allow, id) {
				out.Allow = append(out.Allow, id)
			}
		}
		if len(out.Allow) == 0 {
			// None of them is allowed for this user: nothing may match.
			out.Deny = append(slices.Clone(out.Deny), ids...)
			out.Allow = ids
		}
		return out
	}
	out.Allow = ids
	return out
}

// leaseOf reads a csb.lease value: a Go duration or whole seconds.
func leaseOf(v string) (time.Duration, error) {
	d, ok := durparam.Parse(v)
	if !ok {
		return 0, errorf(http.StatusBadRequest, "property %s %q: want a duration (2h) or seconds", PropLease, v)
	}
	return d, nil
}

func (c *call) createMachine() error {
	var mc machineCreate
	if err := readBody(c.w, c.r, c.h.MaxBodySize, "MachineCreate", &mc); err != nil {
		return err
	}
	dry, err := dryRunAsked(c.r.URL.Query()["dryRun"])
	if err != nil {
		return err
	}
	req, opt, err := c.request(&mc)
	if err != nil {
		return err
	}
	if _, err := c.precondition(c.collectionTag("machines")); err != nil {
		return err
	}
	if dry {
		return c.dryRun(req, opt)
	}
	return c.create(req, opt, "machines", "machine", func(j *jobs.Job) obj { return c.machineObj(j, "") })
}

// dryRunAsked reads the dryRun query parameter's values: given bare or
// true, a dry run; false (a create asked for explicitly) or absent, not;
// another value, or several, are 400 rather than a guess that would make
// a machine, or not make one, against the client's wish.
func dryRunAsked(vals []string) (bool, error) {
	switch {
	case len(vals) == 0:
		return false, nil
	case len(vals) > 1:
		return false, errorf(http.StatusBadRequest, "dryRun is given %d times: give it once", len(vals))
	case vals[0] == "":
		return true, nil
	}
	dry, err := strconv.ParseBool(vals[0])
	if err != nil {
		return false, errorf(http.StatusBadRequest, "dryRun %q: want true or false", vals[0])
	}
	return dry, nil
}

// create makes the job of a MachineCreate or VolumeCreate and answers it:
// 201 with the resource (made by resource) when the job succeeded at
// once, 202 with the creation's Job while it runs, 400 for a request the
// broker cannot read or serve, 409 when no provider could make it or the
// owner's limits refuse it. The Location is the resource in collection
// coll; what names it in the 409 of a job whose every attempt failed.
//
// A create the engine refuses before any job exists (no job in the
// result) is refused by placement (no provider matched: its reason says
// so, candidate by candidate) or by the owner's limits: the jobs block's
// max_jobs_per_owner ("job limit reached: ...") or a quota ("quota
// exceeded: <limit> of <scope>: ..."). The answer's message is the
// engine's reason as it is, which names what refused the create, and no
// text of the front-end's, which once said "no provider could create the
// machine" before a quota's reason although every provider could. The
// status is 409 for both, not 403: the refusal is of the owner's current
// holdings, which the owner can change (delete a machine, wait for a
// failed job's purge) and then resubmit, which is RFC 9110's 409; a 403
// says the credentials do not reach the resource, which a CIMI client
// reads as an authorization failure (this front-end answers it when no
// user is authenticated). The Consumer interface answers the same
// refusals alike, with one status (its 408) and the engine's reason, and
// an update over a quota with 409; the OSB front-end fails the
// provision's operation with the engine's reason.
func (c *call) create(req *csbmsg.ServiceRequest, opt jobs.CreateOptions, coll, what string, resource func(*jobs.Job) obj) error {
	res, err := c.m.Create(c.ctx, c.owner, req, opt)
	if err != nil {
		if errors.Is(err, jobs.ErrNotRecorded) {
			return errorf(http.StatusServiceUnavailable, "%v", err)
		}
		return err
	}
	j := res.Job
	if j != nil {
		c.setJob(j.ID)
		c.w.Header().Set(JobHeader, c.base+"jobs/"+j.ID+jobCreate)
		c.w.Header().Set("Location", c.base+coll+"/"+j.ID)
	}
	switch {
	case res.Status == csbmsg.StatusOK && j != nil && j.Status == jobs.StatusSuccess:
		return write(c.w, c.f, http.StatusCreated, resource(j))
	case res.Status == csbmsg.StatusOK && j != nil && j.Status.InFlight():
		return write(c.w, c.f, http.StatusAccepted, c.jobsOf(j, "")[0])
	case res.Status == csbmsg.StatusSyntaxError || res.Status == csbmsg.StatusUnsupported:
		return errorf(http.StatusBadRequest, "%s", res.Reason)
	case j == nil:
		return errorf(http.StatusConflict, "%s", res.Reason)
	}
	return errorf(http.StatusConflict, "no provider could create the %s: %s", what, res.Reason)
}

// dryRun answers placement's explanation of a MachineCreate: what
// /csb/placement/explain answers for the same request and user.
func (c *call) dryRun(req *csbmsg.ServiceRequest, opt jobs.CreateOptions) error {
	if opt.Access != nil && !slices.Equal(opt.Access.Allow, accessAllow(c.h.app.ConsumerAccess(c.owner))) {
		return errorf(http.StatusBadRequest, "a dry run explains the broker's own choice: leave %s out", PropProvider)
	}
	var exp any
	var err error
	if opt.Placer != nil {
		exp, err = c.h.app.PlacementExplanationWith(opt.Placer.(*placement.Placer), c.owner, req)
	} else {
		exp, err = c.h.app.PlacementExplanation(c.owner, req)
	}
	if err != nil {
		var re *placement.RequestError
		if errors.As(err, &re) {
			return errorf(http.StatusBadRequest, "%s", re.Reason)
		}
		return err
	}
	return writeRaw(c.w, c.f, exp)
}

func accessAllow(a *placement.Access) []string {
	if a == nil {
		return nil
	}
	return a.Allow
}

func (c *call) updateMachine(id string) error {
	var mu machineUpdate
	if err := readBody(c.w, c.r, c.h.MaxBodySize, "Machine", &mu); err != nil {
		return err
	}
	if _, _, err := c.ownMachine(id, false); err != nil {
		return err
	}
	rev, err := c.precondition(c.machineTag(id))
	if err != nil {
		return err
	}
	labels := map[string]string{}
	if mu.Name != nil {
		labels[labelName] = *mu.Name
	}
	if mu.Description != nil {
		labels[labelDesc] = *mu.Description
	}
	var lease time.Duration
	for k, v := range mu.Properties {
		switch {
		case k == PropLease:
			d, err := leaseOf(v)
			if err != nil {
				return err
			}
			lease = d
		case brokerShown[k]:
			// The broker's read-only keys, echoed back by clients that
			// PUT what they read: left alone.
		case strings.HasPrefix(k, "csb."):
			// Anything else is a mistake (a typo of csb.lease, say),
			// refused as on a create rather than dropped unseen.
			return errorf(http.StatusBadRequest, "property %s: unknown broker property (a PUT sets %s; the broker's other keys are read only)", k, PropLease)
		default:
			labels[labelProp+k] = v
		}
	}
	// Each engine operation acts only on the job at the revision the
	// preconditions were evaluated on (rev, 0 when none), the second at
	// the one the first wrote.
	renewed := false
	if lease > 0 {
		res, err := c.m.UpdateIf(c.ctx, c.owner, id, rev, &csbmsg.ServiceRequest{}, lease)
		if err != nil {
			return c.jobErr(id, err)
		}
		if res.Status != csbmsg.StatusOK {
			return errorf(http.StatusConflict, "renewing the lease: %s", res.Reason)
		}
		rev, renewed = chain(rev, res), true
	}
	if len(labels) > 0 {
		res, err := c.m.SetLabelsIf(c.ctx, c.owner, id, rev, labels)
		if renewed && errors.Is(err, jobs.ErrChanged) {
			// The lease is renewed: not a 412, which says nothing was
			// done.
			return errorf(http.StatusConflict, "the lease was renewed, but the machine changed before its name, description and properties were set (%v); read it again and retry", err)
		}
		if err != nil {
			return c.jobErr(id, err)
		}
		if res.Status != csbmsg.StatusOK {
			return errorf(http.StatusConflict, "%s", res.Reason)
		}
	}
	j, live, err := c.ownMachine(id, true)
	if err != nil {
		return err
	}
	return write(c.w, c.f, http.StatusOK, c.machineObj(j, live))
}

// brokerShown are the broker's keys a Machine shows in its properties,
// which a PUT may echo back unchanged.
var brokerShown = map[string]bool{PropProvider: true, PropService: true, PropExpires: true, PropStatus: true, PropPolicy: true}

func (c *call) jobErr(id string, err error) error {
	if errors.Is(err, jobs.ErrNoJob) {
		return errorf(http.StatusNotFound, "no machine %q", id)
	}
	if ce := changedErr(err); ce != nil {
		return ce
	}
	return err
}

func (c *call) deleteMachine(id string) error {
	j, _, err := c.ownMachine(id, false)
	if err != nil {
		return err
	}
	rev, err := c.precondition(c.machineTag(id))
	if err != nil {
		return err
	}
	// Volumes attached later are the caller's own: detached first, so
	// that they outlive the machine. Each operation acts only on the
	// machine at the revision the preconditions were evaluated on (0 when
	// none) or the one the previous operation wrote.
	detached := 0
	for _, a := range j.Attachments {
		res, err := c.m.DetachVolumeIf(c.ctx, c.owner, id, rev, a.ID)
		if detached > 0 && errors.Is(err, jobs.ErrChanged) {
			return errorf(http.StatusConflict, "%d volumes were detached, but the machine changed before it was deleted (%v); read it again and retry", detached, err)
		}
		if err != nil && !errors.Is(err, jobs.ErrNoAttachment) {
			return c.jobErr(id, err)
		}
		if res != nil && res.Status != csbmsg.StatusOK {
			return errorf(http.StatusConflict, "detaching volume %s before deleting the machine: %s", a.Volume, res.Reason)
		}
		if res != nil {
			rev, detached = chain(rev, res), detached+1
		}
	}
	err = c.remove(id, rev)
	if detached > 0 && errors.Is(err, jobs.ErrChanged) {
		return errorf(http.StatusConflict, "%d volumes were detached, but the machine changed before it was deleted (%v); read it again and retry", detached, err)
	}
	return c.jobErr(id, err)
}

// machineAction runs an Action POSTed to a machine (opName is the
// operation's path segment, "" when POSTed to the machine itself).
func (c *call) machineAction(id, opName string) error {
	var a action
	if err := readBody(c.w, c.r, c.h.MaxBodySize, "Action", &a); err != nil {
		return err
	}
	name := strings.TrimPrefix(strings.TrimSpace(a.Action), ActionNS)
	if name == "" {
		name = opName
	}
	if opName != "" && name != opName {
		return errorf(http.StatusBadRequest, "action %q does not match the operation %q", a.Action, opName)
	}
	if _, ok := map[string]bool{contract.ActionStart: true, contract.ActionStop: true, contract.ActionRestart: true, contract.ActionSuspend: true}[name]; !ok {
		return errorf(http.StatusBadRequest, "action %q: this CIMI service runs %sstart, stop, restart and suspend", a.Action, ActionNS)
	}
	if _, _, err := c.ownMachine(id, false); err != nil {
		return err
	}
	// The action's target is the machine (its operation's href is no
	// resource of its own): If-Match names the machine's tag.
	rev, err := c.precondition(c.machineTag(id))
	if err != nil {
		return err
	}
	res, err := c.m.ActIf(c.ctx, c.owner, id, rev, name)
	if err != nil {
		return c.jobErr(id, err)
	}
	if res.Status != csbmsg.StatusOK {
		return errorf(http.StatusConflict, "%s", res.Reason)
	}
	return c.writeActionJob(res.Job, true)
}
