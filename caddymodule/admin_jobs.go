package caddymodule

// The admin API's job routes: GET /csb/jobs and /csb/jobs/<id>.

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// adminJob is one job of GET /csb/jobs.
type adminJob struct {
	ID         string       `json:"id"`
	Owner      string       `json:"owner"`
	State      jobs.Status  `json:"state"`
	Reason     string       `json:"reason,omitempty"`
	Kind       catalog.Kind `json:"kind"`
	ProviderID string       `json:"provider_id,omitempty"`
	ServiceID  string       `json:"service_id,omitempty"`
	URI        string       `json:"cloud_service_uri,omitempty"`
	// LeaseSeconds is the lease granted; Expires when it ends (for
	// expired and removed jobs: when the record is purged); ExpiresIn the
	// seconds left.
	LeaseSeconds uint64         `json:"lease_seconds"`
	Expires      time.Time      `json:"expires,omitzero"`
	ExpiresIn    uint64         `json:"expires_in"`
	Op           *adminOp       `json:"operation,omitempty"`
	Attempts     []jobs.Attempt `json:"attempts"`
	Orphans      int            `json:"orphans,omitempty"`
	// Rechecks counts the handles of creates whose answer was lost that
	// were removed once and are removed again later (jobs.Orphan.Lost):
	// not resources known to be left, so not counted as orphans.
	Rechecks   int       `json:"rechecks,omitempty"`
	CopiedFrom string    `json:"copied_from,omitempty"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Rev        uint64    `json:"rev"`
	// Cost is what the job cost so far (final when CostFinal); nil when
	// it has no cost (never held resources, or an unpriced provider).
	Cost      *float64 `json:"cost,omitempty"`
	CostFinal bool     `json:"cost_final,omitempty"`
}

// adminOp is an operation in progress: which process holds it since when.
type adminOp struct {
	Kind     jobs.OpKind `json:"kind"`
	Instance string      `json:"instance"`
	Started  time.Time   `json:"started"`
}

func summarizeJob(j *jobs.Job, now time.Time) adminJob {
	aj := adminJob{ID: j.ID, Owner: j.Owner, State: j.Status, Reason: j.Reason, Kind: j.Kind, ProviderID: j.ProviderID,
		ServiceID: j.ServiceID, URI: j.CloudServiceURI(), LeaseSeconds: j.LeaseSeconds, Expires: j.Expires,
		ExpiresIn: j.ExpiresIn(now), CopiedFrom: j.CopiedFrom, Created: j.Created,
		Updated: j.Updated, Rev: j.Rev, Attempts: make([]jobs.Attempt, 0, len(j.Attempts))}
	for _, o := range j.Orphans {
		if o.Lost && o.Removals > 0 {
			aj.Rechecks++
		} else {
			aj.Orphans++
		}
	}
	for _, a := range j.Attempts {
		a.Resource = nil // the provider's native handles: in /csb/jobs/<id>
		aj.Attempts = append(aj.Attempts, a)
	}
	if j.Op != nil {
		aj.Op = &adminOp{Kind: j.Op.Kind, Instance: j.Op.Instance, Started: j.Op.Started}
	}
	if j.Status.Final() {
		aj.ExpiresIn = 0
	}
	if j.Cost != nil {
		v := j.CostAt(now)
		aj.Cost, aj.CostFinal = &v, j.Cost.Final()
	}
	return aj
}

func (api *AdminAPI) serveJobs(w http.ResponseWriter, r *http.Request) error {
	format, e, err := api.engineRequest(w, r, http.MethodGet, csbmsg.ConsumerMediaType)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	states, err := listParam(q, "state")
	if err != nil {
		return err
	}
	for _, s := range states {
		if !slices.Contains(jobStates, jobs.Status(s)) {
			return adminError(http.StatusBadRequest, "state %q: want pending, provisioning, success, failed, expired or removed", s)
		}
	}
	kind, err := kindParam(q)
	if err != nil {
		return err
	}
	// The job index matches one owner and one provider.
	owner, err := oneParam(q, "owner")
	if err != nil {
		return err
	}
	provider, err := oneParam(q, "provider")
	if err != nil {
		return err
	}
	limit, after, err := pageParams(q, jobs.DefaultPageSize, jobs.MaxPageSize)
	if err != nil {
		return err
	}
	var statuses []jobs.Status
	for _, s := range states {
		statuses = append(statuses, jobs.Status(s))
	}
	page, err := e.jobsPage(w, r, jobs.PageQuery{Owner: owner, ProviderID: provider,
		Statuses: statuses, Kind: kind, After: after, Limit: limit})
	if err != nil {
		return err
	}
	list, total := page.Jobs, page.Total
	if format == formatXML {
		doc, root := newAdminDoc("jobs", csbmsg.ConsumerNS)
		root.CreateAttr("count", strconv.Itoa(total))
		if page.Next != "" {
			root.CreateAttr("next", page.Next)
		}
		now := time.Now()
		for _, j := range list {
			root.AddChild(jobXML(j, now))
		}
		return writeXML(w, csbmsg.ConsumerMediaType, doc)
	}
	now := time.Now()
	out := struct {
		// Count is the number of jobs matching the query on every page.
		Count int        `json:"count"`
		Jobs  []adminJob `json:"jobs"`
		// Next is the cursor of the next page (its after=); absent on
		// the last page.
		Next string `json:"next,omitempty"`
	}{Count: total, Jobs: make([]adminJob, 0, len(list)), Next: page.Next}
	for _, j := range list {
		out.Jobs = append(out.Jobs, summarizeJob(j, now))
	}
	return writeJSON(w, out)
}

// jobXML writes a job as <admin:job> holding the draft's
// <response-job-info> and the granted resources, as a consumer's GET
// would get them.
func jobXML(j *jobs.Job, now time.Time) *etree.Element {
	s := summarizeJob(j, now)
	el := etree.NewElement("admin:job")
	el.CreateAttr("owner", s.Owner)
	el.CreateAttr("kind", string(s.Kind))
	if s.ProviderID != "" {
		el.CreateAttr("provider", s.ProviderID)
	}
	if s.ServiceID != "" {
		el.CreateAttr("service", s.ServiceID)
	}
	el.CreateAttr("lease-seconds", strconv.FormatUint(s.LeaseSeconds, 10))
	setTime(el, "expires", s.Expires)
	setTime(el, "created", s.Created)
	setTime(el, "updated", s.Updated)
	if s.Reason != "" {
		el.CreateAttr("reason", s.Reason)
	}
	if s.Cost != nil {
		el.CreateAttr("cost", quota.Money(*s.Cost))
		el.CreateAttr("cost-final", strconv.FormatBool(s.CostFinal))
	}
	if s.Op != nil {
		el.CreateAttr("operation", string(s.Op.Kind))
		el.CreateAttr("operation-instance", s.Op.Instance)
	}
	resp := &csbmsg.ServiceResponse{Status: csbmsg.StatusOK,
		JobInfo: &csbmsg.ResponseJobInfo{JobID: j.ID, JobStatus: string(j.Status), Expires: s.ExpiresIn, CloudServiceURI: s.URI}}
	g := j.Granted()
	full := *resp
	full.IaaS, full.PaaS, full.SaaS, full.DSaaS = g.IaaS, g.PaaS, g.SaaS, g.DSaaS
	// The granted resources come from adapters; should one not
	// serialise, the job info still does.
	for _, r := range []*csbmsg.ServiceResponse{&full, resp} {
		data, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Response: r})
		if err != nil {
			continue
		}
		if els, err := draftElements(data, "CloudServiceResponse"); err == nil {
			for _, c := range els {
				el.AddChild(c)
			}
			break
		}
	}
	for _, a := range s.Attempts {
		ae := el.CreateElement("admin:attempt")
		ae.CreateAttr("provider", a.ProviderID)
		ae.CreateAttr("service", a.ServiceID)
		ae.CreateAttr("purpose", string(a.Purpose))
		ae.CreateAttr("outcome", a.Outcome)
		setTime(ae, "started", a.Started)
		setTime(ae, "ended", a.Ended)
		if a.ErrorKind != "" {
			ae.CreateAttr("error-kind", a.ErrorKind)
		}
		if a.Reason != "" {
			ae.CreateAttr("reason", a.Reason)
		}
		if a.Cleanup != "" {
			ae.CreateAttr("cleanup", a.Cleanup)
		}
	}
	return el
}

func (api *AdminAPI) serveJob(w http.ResponseWriter, r *http.Request) error {
	format, e, err := api.engineRequest(w, r, http.MethodGet, csbmsg.ConsumerMediaType)
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Path, "/csb/jobs/")
	if id == "" || strings.Contains(id, "/") {
		return adminError(http.StatusNotFound, "no job at %s", r.URL.Path)
	}
	j, err := e.consumer.jobs.Inspect(r.Context(), id)
	if errors.Is(err, jobs.ErrNoJob) {
		return adminError(http.StatusNotFound, "no such job: %s", id)
	}
	if err != nil {
		return adminError(http.StatusInternalServerError, "reading job %s: %v", id, err)
	}
	if format == formatXML {
		doc, root := newAdminDoc("jobs", csbmsg.ConsumerNS)
		root.CreateAttr("count", "1")
		root.AddChild(jobXML(j, time.Now()))
		return writeXML(w, csbmsg.ConsumerMediaType, doc)
	}
	out := *j
	out.IdempotencyKey = "" // the consumer's, not the operator's
	return writeJSON(w, out)
}
