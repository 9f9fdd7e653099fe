package caddymodule

// The admin API's POST /csb/placement/explain.

import (
	"bytes"
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
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

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
	// Fields are the request fields each candidate's adapter must honour
	// (contract.RequestFields); a candidate's unhonoured_fields lists
	// those its adapter does not.
	Fields []string `json:"request_fields"`
	// Quota is what the user's quotas say of the request (only with
	// ?user=): the limit a create would hit, if any.
	Quota *adminQuota `json:"quota,omitempty"`
}

// adminQuota is the quota part of an explanation, checked against what
// the user's scopes hold now (nothing is reserved).
type adminQuota struct {
	User string `json:"user"`
	// Scopes name the limits that apply to the user (its own and its
	// groups'); empty when none does.
	Scopes   []string `json:"scopes"`
	Admitted bool     `json:"admitted"`
	// Scope, Limit and Reason name the limit a create would go over.
	Scope  string `json:"scope,omitempty"`
	Limit  string `json:"limit,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Usage is what the request would hold; Cost its cost for its whole
	// lease (LeaseSeconds) at the chosen provider's price.
	Usage        quota.Usage `json:"usage"`
	Cost         float64     `json:"cost"`
	LeaseSeconds uint64      `json:"lease_seconds"`
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
	// Unhonoured are the request fields the provider's adapter does not
	// honour: why it was rejected, or what it would ignore.
	Unhonoured []string `json:"unhonoured_fields,omitempty"`
}

func (api *AdminAPI) serveExplain(w http.ResponseWriter, r *http.Request) error {
	format, a, e, err := api.request(w, r, http.MethodPost, csbmsg.ConsumerMediaType)
	if err != nil {
		return err
	}
	req, err := a.readExplainRequest(w, r)
	if err != nil {
		return err
	}
	if req, err = a.ExpandForExplain(r.Context(), req); err != nil {
		var re *placement.RequestError
		if errors.As(err, &re) {
			return adminError(http.StatusBadRequest, "status %d: %s", re.Status, re.Reason)
		}
		return adminError(http.StatusBadRequest, "expanding the OVF link: %v", err)
	}
	user := r.URL.Query().Get("user")
	lease, maxPrice, err := explainOptions(r)
	if err != nil {
		return err
	}
	d, err := a.explainPlacement(user, req, maxPrice)
	if err != nil {
		var re *placement.RequestError
		if errors.As(err, &re) {
			return adminError(http.StatusBadRequest, "status %d: %s", re.Status, re.Reason)
		}
		return adminError(http.StatusInternalServerError, "placement: %v", err)
	}
	out := a.explanation(d)
	if user != "" {
		var price *float64
		if c := d.Chosen(); c != nil && c.HasPrice {
			p := c.Price
			price = &p
		}
		// App.ExplainQuota, through the engine this request took
		// (running).
		m := e.consumer.jobs
		qc, err := m.CheckQuota(r.Context(), user, req, price, lease)
		if err != nil {
			d.Release()
			return adminError(http.StatusInternalServerError, "quota: %v", err)
		}
		out.Quota = adminQuotaOf(user, qc, uint64(m.LeaseFor(lease)/time.Second))
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
	if q := out.Quota; q != nil {
		el := root.CreateElement("admin:quota")
		el.CreateAttr("user", q.User)
		el.CreateAttr("admitted", strconv.FormatBool(q.Admitted))
		if q.Limit != "" {
			el.CreateAttr("scope", q.Scope)
			el.CreateAttr("limit", q.Limit)
			el.CreateAttr("reason", q.Reason)
		}
		el.CreateAttr("cost", quota.Money(q.Cost))
		el.CreateAttr("lease-seconds", strconv.FormatUint(q.LeaseSeconds, 10))
		for _, sc := range q.Scopes {
			el.CreateElement("admin:scope").SetText(sc)
		}
	}
	for _, f := range out.Fields {
		root.CreateElement("admin:request-field").SetText(f)
	}
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
		if len(c.Unhonoured) > 0 {
			el.CreateAttr("unhonoured-fields", strings.Join(c.Unhonoured, " "))
		}
	}
	return writeXML(w, csbmsg.ConsumerMediaType, doc)
}

// explanation turns a dry-run decision into the explain answer: every
// candidate with its score or reason, then the configured providers
// placement did not consider and why. The admin API and the consumer's
// explain (consumer_explain.go) answer with it.
func (a *App) explanation(d *placement.Decision) adminExplanation {
	out := adminExplanation{Kind: d.Kind, Policy: d.Policy, Version: d.Version, Summary: d.Summary(), Candidates: []adminCandidate{},
		Fields: append([]string{}, d.Fields...)}
	seen := map[string]bool{}
	for _, x := range d.Explain() {
		c := adminCandidate{ProviderID: x.ProviderID, ServiceID: x.ServiceID, Matched: x.Matched, Rank: x.Rank, Note: x.Note, Unhonoured: x.Unhonoured}
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
	return out
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
	// The live engine, not the app's field: the admin API's explain runs
	// beside the configuration loads (AdminAPI.running).
	e := a.liveEngine()
	if e == nil {
		return "the broker is stopping"
	}
	cat := e.catalog
	pe, ok := cat.Provider(id)
	if !ok {
		return "not in the catalogue: the provider has published nothing and declares no services"
	}
	if pe.Status != csbmsg.ServiceActive {
		return fmt.Sprintf("provider is %s", pe.Status)
	}
	if !cat.Healthy(id) {
		return placement.UnhealthyReason
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
