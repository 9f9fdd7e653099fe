package caddymodule

// The Consumer collection's extensions (issue 19): what a consumer may
// ask of <consumer_path> itself besides POST-to-create, so that a CLI or
// a script needs no admin access.
//
//	GET|HEAD <consumer_path>            the caller's jobs, newest first
//	GET      <consumer_path>?catalog    the catalogue as the caller may use it (JSON)
//	POST     <consumer_path>?explain    a placement dry-run for the caller (JSON)
//
// The job list is written in the draft's vocabulary by default
// (csbmsg.JobList: one <CloudServiceResponse> per job, each as a GET of
// the job answers it) and as JSON with "Accept: application/json" (the
// same jobs with their provider and service, which the draft's response
// does not carry, and each job's cost: cost, cost_final and, while it
// accrues, cost_rate per hour, as docs/costs.md defines them). Every
// answer is scoped to the authenticated user ({http.auth.user.id}):
// another user's jobs are never listed, the catalogue leaves out
// providers the user's access lists exclude, and the explain uses the
// user's lists. Without a user the answer is HTTP 403,
// as for the rest of the interface, unless "anonymous allow".

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/quota"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/accept"
)

// consumerExtension reports whether a request to the collection is one
// of the extensions above rather than a create.
func consumerExtension(r *http.Request) bool {
	if r.Method == http.MethodPost {
		return r.URL.Query().Has("explain")
	}
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// serveCollection serves the collection's extensions.
func (h *Handler) serveCollection(w http.ResponseWriter, r *http.Request) error {
	eng, view := h.app.consumer(), h.app.consumerView
	if eng == nil || view == nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, errors.New("consumer interface not configured"))
	}
	owner, err := h.consumerOwner(r, view.cfg)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case r.Method == http.MethodPost:
		return h.serveConsumerExplain(w, r, owner, view.cfg)
	case r.URL.Query().Has("catalog"):
		return h.serveConsumerCatalog(w, r, owner, view.cfg)
	}
	return h.serveJobList(w, r, eng.jobs, owner)
}

// consumerOwner returns the job owner of a request: the authenticated
// user, or AnonymousOwner under "anonymous allow"; otherwise HTTP 403.
func (h *Handler) consumerOwner(r *http.Request, cfg *ConsumerConfig) (string, error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := ""
	if repl != nil {
		user = repl.ReplaceAll("{http.auth.user.id}", "")
	}
	return consumerOwnerOf(user, cfg)
}

// consumerOwnerOf is ownerFor with the Consumer interface's refusals: 403
// for a request without an authenticated user under "anonymous refuse",
// and for an authenticated user named AnonymousOwner.
func consumerOwnerOf(user string, cfg *ConsumerConfig) (string, error) {
	owner, err := ownerFor(user, cfg.Anonymous)
	switch {
	case errors.Is(err, ErrAnonymous):
		return "", caddyhttp.Error(http.StatusForbidden, errors.New("the consumer interface needs an authenticated user: put basic_auth or digest_auth before csb, or set jobs { anonymous allow }"))
	case err != nil:
		return "", caddyhttp.Error(http.StatusForbidden, err)
	}
	return owner, nil
}

// listedJob is a job as the JSON job list shows it, at now.
func listedJob(j *jobs.Job, now time.Time) csbmsg.ListedJob {
	cj := csbmsg.ListedJob{JobID: j.ID, JobStatus: string(j.Status), Reason: j.Reason, Kind: string(j.Kind),
		ProviderID: j.ProviderID, ServiceID: j.ServiceID, Expires: j.ExpiresIn(now), CloudServiceURI: j.CloudServiceURI(),
		Attempts: len(j.Attempts), CopiedFrom: j.CopiedFrom, Created: j.Created, Updated: j.Updated}
	if c := j.Cost; c != nil {
		// Rounded as the Csb-Cost header is, so both say the same.
		amount, _ := strconv.ParseFloat(quota.Money(c.Amount(now)), 64)
		cj.Cost, cj.CostFinal = &amount, c.Final()
		if !c.Final() {
			rate, _ := strconv.ParseFloat(quota.Money(c.Rate()), 64)
			cj.CostRate = &rate
		}
	}
	return cj
}

// serveJobList answers GET and HEAD on the collection.
func (h *Handler) serveJobList(w http.ResponseWriter, r *http.Request, m *jobs.Manager, owner string) error {
	asJSON := prefersJSON(r)
	if !asJSON {
		if err := checkAccept(r, csbmsg.ConsumerMediaType); err != nil {
			return err
		}
	}
	list, err := m.ListOwned(r.Context(), owner)
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("listing the jobs: %v", err))
	}
	hdr := w.Header()
	hdr.Set("Csb-Status", strconv.Itoa(int(csbmsg.StatusOK)))
	hdr.Set("Csb-Job-Count", strconv.Itoa(len(list)))
	now := time.Now()
	if asJSON {
		out := csbmsg.JobListing{Jobs: make([]csbmsg.ListedJob, 0, len(list))}
		for _, j := range list {
			out.Jobs = append(out.Jobs, listedJob(j, now))
		}
		data, err := json.Marshal(out)
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		return writeJSONBody(w, data)
	}
	doc := &csbmsg.JobList{Version: csbmsg.Version, Responses: make([]*csbmsg.ServiceResponse, 0, len(list))}
	for _, j := range list {
		doc.Responses = append(doc.Responses, jobResponse(j, now))
	}
	body, err := csbmsg.MarshalJobList(doc)
	if err != nil {
		// One job's provider values cannot be written: list it as a GET
		// of it answers (writable), and every other job in full.
		for i, r := range doc.Responses {
			doc.Responses[i] = writable(r)
		}
		body, err = csbmsg.MarshalJobList(doc)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("serializing the job list: %v", err))
	}
	return writeMessage(w, csbmsg.ConsumerMediaType, body)
}

// jobResponse is the <CloudServiceResponse> a GET of the job answers.
func jobResponse(j *jobs.Job, now time.Time) *csbmsg.ServiceResponse {
	resp := &csbmsg.ServiceResponse{Status: csbmsg.StatusOK, Reason: csbmsg.CleanText(j.Reason), // as answer does
		JobInfo: &csbmsg.ResponseJobInfo{JobID: j.ID, JobStatus: string(j.Status), Expires: j.ExpiresIn(now), CloudServiceURI: j.CloudServiceURI()}}
	g := j.Granted()
	resp.IaaS, resp.PaaS, resp.SaaS, resp.DSaaS = g.IaaS, g.PaaS, g.SaaS, g.DSaaS
	if want := j.Request.Encryption; want != nil {
		enc := *want && j.Encryption
		resp.Encryption = &enc
	}
	return resp
}

// prefersJSON reports whether the Accept header names application/json
// before any XML type (the first acceptable listed wins; no Accept is
// XML, the interface's own format).
func prefersJSON(r *http.Request) bool {
	for _, mt := range acceptedTypes(r.Header.Values("Accept")) {
		switch mt {
		case "application/json":
			return true
		case csbmsg.ConsumerMediaType, "application/xml", "text/xml", "*/*", "application/*":
			return false
		}
	}
	return false
}

// acceptsJSON answers HTTP 406 when the Accept header excludes JSON: no
// range matches application/json, or the most specific one that does has
// weight 0 ("application/json;q=0, */*"; see checkAccept).
func acceptsJSON(r *http.Request) error {
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return nil
	}
	if q, _ := acceptWeight(values, "application/json"); q > 0 {
		return nil
	}
	return caddyhttp.Error(http.StatusNotAcceptable, fmt.Errorf("Accept %q excludes application/json", strings.Join(values, ", ")))
}

// acceptedTypes returns the media types (and ranges) the Accept header
// values list, in their order, but those it refuses (a q of 0, however
// written: "0", "0.0") and those that do not parse.
func acceptedTypes(values []string) []string {
	var out []string
	for _, rg := range accept.Ranges(values) {
		if rg.Q != 0 {
			out = append(out, rg.Type)
		}
	}
	return out
}

func writeJSONBody(w http.ResponseWriter, data []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(data)
	return err
}

// access returns the provider lists placement applies to a create, COPY
// or MOVE: the user's (jobs { access }), narrowed to the providers the
// request's Csb-Provider header names (comma-separated), when it has one.
func (c *consumerCall) access() *placement.Access {
	return narrowAccess(c.cfg.access(c.owner), c.r.Header.Values("Csb-Provider"))
}

// narrowAccess restricts a user's lists to the providers named: those
// become the allow list, and the ones the user's lists exclude are denied.
func narrowAccess(user *placement.Access, header []string) *placement.Access {
	var want []string
	for _, line := range header {
		for _, id := range strings.Split(line, ",") {
			if id = strings.TrimSpace(id); id != "" && !slices.Contains(want, id) {
				want = append(want, id)
			}
		}
	}
	if len(want) == 0 {
		return user
	}
	out := &placement.Access{Allow: want}
	for _, id := range want {
		if !user.Permits(id) {
			out.Deny = append(out.Deny, id)
		}
	}
	return out
}
