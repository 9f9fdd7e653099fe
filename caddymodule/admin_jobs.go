package caddymodule

// The admin API's job and placement routes (admin.go has the module and
// the catalogue and subscription routes).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// ---------------------------------------------------------------------------
// GET /csb/jobs and /csb/jobs/<id>

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
	CopiedFrom   string         `json:"copied_from,omitempty"`
	Created      time.Time      `json:"created"`
	Updated      time.Time      `json:"updated"`
	Rev          uint64         `json:"rev"`
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
		ExpiresIn: j.ExpiresIn(now), Orphans: len(j.Orphans), CopiedFrom: j.CopiedFrom, Created: j.Created,
		Updated: j.Updated, Rev: j.Rev, Attempts: make([]jobs.Attempt, 0, len(j.Attempts))}
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
	return aj
}

func serveAdminJobs(w http.ResponseWriter, r *http.Request) error {
	format, err := adminRequest(w, r, http.MethodGet, csbmsg.ConsumerMediaType)
	if err != nil {
		return err
	}
	a, err := adminApp()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	states := listParam(q, "state")
	for _, s := range states {
		if !slices.Contains(jobStates, jobs.Status(s)) {
			return adminError(http.StatusBadRequest, "state %q: want pending, provisioning, success, failed, expired or removed", s)
		}
	}
	var kind catalog.Kind
	if k := q.Get("kind"); k != "" {
		if kind, err = parseKind(k); err != nil {
			return err
		}
	}
	limit := -1
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 0 {
			return adminError(http.StatusBadRequest, "limit %q: want a non-negative integer", l)
		}
	}
	f := jobs.Filter{Owner: q.Get("owner"), ProviderID: q.Get("provider")}
	if len(states) == 1 {
		f.Status = jobs.Status(states[0])
	}
	list, err := a.engine.consumer.jobs.List(r.Context(), f)
	if err != nil {
		return adminError(http.StatusInternalServerError, "listing jobs: %v", err)
	}
	list = slices.DeleteFunc(list, func(j *jobs.Job) bool {
		return len(states) > 1 && !slices.Contains(states, string(j.Status)) || kind != "" && j.Kind != kind
	})
	slices.SortFunc(list, func(x, y *jobs.Job) int {
		if c := x.Created.Compare(y.Created); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	total := len(list)
	if limit >= 0 && limit < len(list) {
		list = list[:limit]
	}
	if format == formatXML {
		doc, root := newAdminDoc("jobs", csbmsg.ConsumerNS)
		root.CreateAttr("count", strconv.Itoa(total))
		now := time.Now()
		for _, j := range list {
			root.AddChild(jobXML(j, now))
		}
		return writeXML(w, csbmsg.ConsumerMediaType, doc)
	}
	now := time.Now()
	out := struct {
		Count int        `json:"count"`
		Jobs  []adminJob `json:"jobs"`
	}{Count: total, Jobs: make([]adminJob, 0, len(list))}
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

func serveAdminJob(w http.ResponseWriter, r *http.Request) error {
	format, err := adminRequest(w, r, http.MethodGet, csbmsg.ConsumerMediaType)
	if err != nil {
		return err
	}
	a, err := adminApp()
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Path, "/csb/jobs/")
	if id == "" || strings.Contains(id, "/") {
		return adminError(http.StatusNotFound, "no job at %s", r.URL.Path)
	}
	j, err := a.engine.consumer.jobs.Inspect(r.Context(), id)
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

// ---------------------------------------------------------------------------
// POST /csb/placement/explain

// adminExplanation is the answer of POST /csb/placement/explain.
type adminExplanation struct {
	Kind    catalog.Kind `json:"kind"`
	Policy  string       `json:"policy"`
	Version uint64       `json:"catalog_version"`
	// Chosen is the candidate a create would try first (nil: none
	// matches); the matching candidates are tried in rank order.
	Chosen     *adminCandidate  `json:"chosen"`
	Summary    string           `json:"summary"`
	Candidates []adminCandidate `json:"candidates"`
}

// adminCandidate is one provider of an explanation: its best-fitting
// service and score when it matches, else the reason it does not.
type adminCandidate struct {
	ProviderID string   `json:"provider_id"`
	ServiceID  string   `json:"service_id,omitempty"`
	Matched    bool     `json:"matched"`
	Rank       int      `json:"rank"` // 0 = chosen, -1 = rejected
	Score      *float64 `json:"score,omitempty"`
	Note       string   `json:"note"` // the score explained, or the reason for rejection
}

func serveAdminExplain(w http.ResponseWriter, r *http.Request) error {
	format, err := adminRequest(w, r, http.MethodPost, csbmsg.ConsumerMediaType)
	if err != nil {
		return err
	}
	a, err := adminApp()
	if err != nil {
		return err
	}
	req, err := a.readExplainRequest(w, r)
	if err != nil {
		return err
	}
	if exp := a.OVFExpander(); exp != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		out, err := exp.Expand(ctx, *req)
		cancel()
		if err != nil {
			return adminError(http.StatusBadRequest, "expanding the OVF link: %v", err)
		}
		req = &out
	}
	user := r.URL.Query().Get("user")
	d, err := a.ExplainPlacement(user, req)
	if err != nil {
		var re *placement.RequestError
		if errors.As(err, &re) {
			return adminError(http.StatusBadRequest, "status %d: %s", re.Status, re.Reason)
		}
		return adminError(http.StatusInternalServerError, "placement: %v", err)
	}
	out := adminExplanation{Kind: d.Kind, Policy: d.Policy, Version: d.Version, Summary: d.Summary(), Candidates: []adminCandidate{}}
	seen := map[string]bool{}
	for _, x := range d.Explain() {
		c := adminCandidate{ProviderID: x.ProviderID, ServiceID: x.ServiceID, Matched: x.Matched, Rank: x.Rank, Note: x.Note}
		if x.Matched {
			score := x.Score
			if i := slices.IndexFunc(d.Candidates, func(c placement.Candidate) bool { return c.ProviderID == x.ProviderID }); i >= 0 {
				score = d.Candidates[i].Score
			}
			if !math.IsInf(score, 0) && !math.IsNaN(score) {
				c.Score = &score
			}
		}
		seen[x.ProviderID] = true
		out.Candidates = append(out.Candidates, c)
	}
	// Configured providers placement did not consider at all: say why.
	for _, p := range a.Providers {
		if seen[p.ID] {
			continue
		}
		out.Candidates = append(out.Candidates, adminCandidate{ProviderID: p.ID, Rank: -1, Note: a.notConsidered(p.ID, d.Kind)})
	}
	if c := d.Chosen(); c != nil {
		for i := range out.Candidates {
			if out.Candidates[i].ProviderID == c.ProviderID {
				out.Chosen = &out.Candidates[i]
			}
		}
	}
	d.Release()
	if format == formatJSON {
		return writeJSON(w, out)
	}
	doc, root := newAdminDoc("explanation", csbmsg.ConsumerNS)
	root.CreateAttr("kind", string(out.Kind))
	root.CreateAttr("policy", out.Policy)
	root.CreateAttr("catalog-version", strconv.FormatUint(out.Version, 10))
	if out.Chosen != nil {
		root.CreateAttr("chosen-provider", out.Chosen.ProviderID)
		root.CreateAttr("chosen-service", out.Chosen.ServiceID)
	}
	if data, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req}); err == nil {
		if ed := etree.NewDocument(); ed.ReadFromBytes(data) == nil && ed.Root() != nil {
			ed.Unindent()
			if el := ed.Root().FindElement("CloudServiceRequest"); el != nil {
				ed.Root().RemoveChild(el)
				root.AddChild(el)
			}
		}
	}
	root.CreateElement("admin:summary").SetText(out.Summary)
	for _, c := range out.Candidates {
		el := root.CreateElement("admin:candidate")
		el.CreateAttr("provider", c.ProviderID)
		if c.ServiceID != "" {
			el.CreateAttr("service", c.ServiceID)
		}
		el.CreateAttr("matched", strconv.FormatBool(c.Matched))
		el.CreateAttr("rank", strconv.Itoa(c.Rank))
		if c.Score != nil {
			el.CreateAttr("score", strconv.FormatFloat(*c.Score, 'g', -1, 64))
		}
		el.CreateAttr("note", c.Note)
	}
	return writeXML(w, csbmsg.ConsumerMediaType, doc)
}

// readExplainRequest reads the <csbconsumer> body of an explain request
// with the app's codec options (Content-Type application/csb-consumer+xml
// or application/xml; none is taken as XML too).
func (a *App) readExplainRequest(w http.ResponseWriter, r *http.Request) (*csbmsg.ServiceRequest, error) {
	charset := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != csbmsg.ConsumerMediaType && mt != "application/xml" && mt != "text/xml" {
			return nil, adminError(http.StatusUnsupportedMediaType, "Content-Type %q: want %s", ct, csbmsg.ConsumerMediaType)
		}
		charset = params["charset"]
	}
	x := a.XML
	limit := x.limits.MaxBytes
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, adminError(http.StatusRequestEntityTooLarge, "request body exceeds max_body_size (%d bytes)", limit)
		}
		return nil, adminError(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, adminError(http.StatusBadRequest, "the body must be a <csbconsumer> document with a <CloudServiceRequest>")
	}
	msg, err := csbmsg.ParseConsumer(body, x.options("admin", charset))
	if err != nil {
		return nil, adminError(http.StatusBadRequest, "the request is not a valid csb-consumer document: %v", err)
	}
	if msg.Request == nil {
		return nil, adminError(http.StatusBadRequest, "the body must carry a <CloudServiceRequest>")
	}
	if msg.Request.JobInfo != nil {
		return nil, adminError(http.StatusBadRequest, "a <CloudServiceRequest> with <job-info> acts on a job; explain takes a create request")
	}
	return msg.Request, nil
}

// notConsidered says why a configured provider was not a candidate of a
// decision on kind at all.
func (a *App) notConsidered(id string, kind catalog.Kind) string {
	cat := a.engine.catalog
	pe, ok := cat.Provider(id)
	if !ok {
		return "not in the catalogue: the provider has published nothing and declares no services"
	}
	if pe.Status != csbmsg.ServiceActive {
		return fmt.Sprintf("provider is %s", pe.Status)
	}
	n, expired, inactive := 0, 0, 0
	now := time.Now()
	for _, s := range cat.Services(id) {
		if s.Kind != kind {
			continue
		}
		n++
		switch {
		case s.Service.Status != csbmsg.ServiceActive:
			inactive++
		case !s.Expires.IsZero() && !now.Before(s.Expires):
			expired++
		}
	}
	switch {
	case n == 0:
		return fmt.Sprintf("offers no %s service", kind)
	case expired > 0 && inactive == 0:
		return fmt.Sprintf("its %d %s service(s) expired", n, kind)
	case inactive == n:
		return fmt.Sprintf("its %d %s service(s) are deactivated or unavailable", n, kind)
	}
	return fmt.Sprintf("none of its %d %s service(s) is placeable (%d expired, %d deactivated or unavailable)", n, kind, expired, inactive)
}
