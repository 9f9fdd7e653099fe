package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/publish"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin.api.csb module: a view into the running broker on
// Caddy's admin endpoint (by default localhost:2019, reachable only from
// the machine; see Caddy's admin options to change it). Every Caddy with
// this module serves it; it needs no configuration.
//
//	GET  /csb/catalog              providers and services with status, expiry, source and placeability
//	                               filters: ?provider=<id>[,<id>...] ?kind=iaas|paas|saas|dsaas ?status=active|deactivated|unavailable
//	GET  /csb/jobs                 jobs with state, owner, provider, service, lease and attempts
//	                               filters: ?owner= ?state=<state>[,<state>...] ?provider= ?kind= ?limit=<n>
//	GET  /csb/jobs/<job-id>        one job in full (request, plan, decision, attempts, operation, orphans)
//	GET  /csb/subscriptions        subscriptions: id, seqnumber, granted expires and frequency,
//	                               last notification, next renewal, last error; filters: ?provider= ?state=
//	POST /csb/placement/explain    dry-run a <CloudServiceRequest> (the body, a csb-consumer document):
//	                               every provider with its score or its reason for rejection; nothing is
//	                               created and no policy state moves; ?user=<id> applies that user's
//	                               access lists
//
// Answers are JSON. With Accept: application/csb-publish+xml (catalogue,
// subscriptions), application/csb-consumer+xml (jobs, explain), or
// application/xml, they are XML: the draft's own elements
// (<Cloud-Service-Provider>, <Cloud-Service>, <subscription>,
// <response-job-info>, <CloudServiceRequest>, ...) in the draft's
// namespace, inside wrapper elements of the namespace urn:caddy-csb:admin
// that carry what the draft has no element for (expiry, source, owner,
// attempts, scores). ?format=json|xml overrides Accept. An Accept that
// admits none of these is answered 406.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.csb",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes implements caddy.AdminRouter.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/csb/catalog", Handler: caddy.AdminHandlerFunc(serveAdminCatalog)},
		{Pattern: "/csb/jobs", Handler: caddy.AdminHandlerFunc(serveAdminJobs)},
		{Pattern: "/csb/jobs/", Handler: caddy.AdminHandlerFunc(serveAdminJob)},
		{Pattern: "/csb/subscriptions", Handler: caddy.AdminHandlerFunc(serveAdminSubscriptions)},
		{Pattern: "/csb/placement/explain", Handler: caddy.AdminHandlerFunc(serveAdminExplain)},
	}
}

// AdminNamespace is the XML namespace of the admin API's wrapper elements.
const AdminNamespace = "urn:caddy-csb:admin"

// runningApp is the csb app of the running configuration: set by Start,
// cleared by the Cleanup of that same app (a reload's new app has already
// replaced it by then).
var runningApp atomic.Pointer[App]

// currentEngine returns the running engine, if any.
func currentEngine() *engine {
	var e *engine
	enginePool.Range(func(_, v any) bool {
		e, _ = v.(*engine)
		return false
	})
	return e
}

func adminError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// adminApp returns the running app, or a 503.
func adminApp() (*App, error) {
	a := runningApp.Load()
	if a == nil || a.engine == nil {
		return nil, adminError(http.StatusServiceUnavailable, "no csb app is running")
	}
	return a, nil
}

// ---------------------------------------------------------------------------
// Content negotiation

type adminFormat int

const (
	formatJSON adminFormat = iota
	formatXML
)

// negotiate picks JSON or XML for an answer whose XML form uses the draft
// media type draftType.
func negotiate(r *http.Request, draftType string) (adminFormat, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "json":
		return formatJSON, nil
	case "xml":
		return formatXML, nil
	case "":
	default:
		return 0, adminError(http.StatusBadRequest, "format %q: want json or xml", f)
	}
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return formatJSON, nil
	}
	best, bestQ, bestSpecific := formatJSON, -1.0, false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					q = f
				}
			}
			if q <= 0 {
				continue
			}
			var f adminFormat
			specific := true
			switch mt {
			case "application/json":
				f = formatJSON
			case draftType, "application/xml", "text/xml":
				f = formatXML
			case "*/*", "application/*":
				f, specific = formatJSON, false
			default:
				continue
			}
			if q > bestQ || q == bestQ && specific && !bestSpecific {
				best, bestQ, bestSpecific = f, q, specific
			}
		}
	}
	if bestQ < 0 {
		return 0, adminError(http.StatusNotAcceptable, "the answer is application/json or %s (or application/xml)", draftType)
	}
	return best, nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeXML(w http.ResponseWriter, mediaType string, doc *etree.Document) error {
	doc.Indent(2)
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err := doc.WriteTo(w)
	return err
}

// newAdminDoc returns an XML document whose root is the admin element
// name, with the draft namespace ns as the default namespace.
func newAdminDoc(name, ns string) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("admin:" + name)
	root.CreateAttr("xmlns", ns)
	root.CreateAttr("xmlns:admin", AdminNamespace)
	return doc, root
}

// draftElements parses a document the codec wrote and returns the
// children of its element named parent (for example the children of
// <csbnotification>).
func draftElements(data []byte, parent string) ([]*etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, err
	}
	doc.Unindent() // the answer is indented as a whole
	root := doc.Root()
	if root == nil {
		return nil, errors.New("empty document")
	}
	el := root.FindElement(parent)
	if el == nil {
		return nil, fmt.Errorf("no <%s>", parent)
	}
	out := el.ChildElements()
	for _, c := range out {
		el.RemoveChild(c)
	}
	return out, nil
}

func setTime(el *etree.Element, name string, t time.Time) {
	if !t.IsZero() {
		el.CreateAttr(name, t.UTC().Format(time.RFC3339Nano))
	}
}

func listParam(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseKind reads a service model name in any case.
func parseKind(s string) (catalog.Kind, error) {
	for _, k := range serviceKinds {
		if strings.EqualFold(s, string(k)) {
			return k, nil
		}
	}
	return "", adminError(http.StatusBadRequest, "kind %q: want iaas, paas, saas or dsaas", s)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	w.Header().Set("Allow", allow)
	return adminError(http.StatusMethodNotAllowed, "method %s not allowed (%s)", r.Method, allow)
}

// ---------------------------------------------------------------------------
// GET /csb/catalog

// adminCatalog is the JSON answer of GET /csb/catalog.
type adminCatalog struct {
	// Version is the catalogue's change counter.
	Version uint64 `json:"version"`
	// Placeable counts, per service model, the services placement may
	// choose now (over the whole catalogue, whatever the filters).
	Placeable map[catalog.Kind]int `json:"placeable"`
	Providers []adminProvider      `json:"providers"`
}

type adminProvider struct {
	Provider  catalog.ProviderEntry `json:"provider"`
	SeqNumber uint64                `json:"seqnumber,omitempty"`
	// Placeable counts the provider's services listed here that
	// placement may choose now.
	Placeable int            `json:"placeable"`
	Services  []adminService `json:"services"`
}

type adminService struct {
	catalog.ServiceEntry
	// Placeable is true when placement may choose the service now: it and
	// its provider are active and its entry has not expired.
	Placeable bool `json:"placeable"`
}

func placeableNow(p catalog.ProviderEntry, s catalog.ServiceEntry, now time.Time) bool {
	return p.Status == csbmsg.ServiceActive && s.Service.Status == csbmsg.ServiceActive && s.Kind != "" &&
		(s.Expires.IsZero() || now.Before(s.Expires))
}

func serveAdminCatalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, "GET")
	}
	format, err := negotiate(r, csbmsg.PublishMediaType)
	if err != nil {
		return err
	}
	e := currentEngine()
	if e == nil {
		return adminError(http.StatusServiceUnavailable, "no csb app is running")
	}
	q := r.URL.Query()
	providers := listParam(q, "provider")
	var kind catalog.Kind
	if k := q.Get("kind"); k != "" {
		if kind, err = parseKind(k); err != nil {
			return err
		}
	}
	var status csbmsg.ServiceStatus
	if s := q.Get("status"); s != "" {
		if !slices.Contains(serviceStatuses, csbmsg.ServiceStatus(s)) {
			return adminError(http.StatusBadRequest, "status %q: want active, deactivated or unavailable", s)
		}
		status = csbmsg.ServiceStatus(s)
	}

	out := adminCatalog{Version: e.catalog.Version(), Placeable: map[catalog.Kind]int{}, Providers: []adminProvider{}}
	for _, k := range serviceKinds {
		out.Placeable[k] = len(e.catalog.Placeable(k))
	}
	now := time.Now()
	for _, pv := range e.catalog.Snapshot() {
		if len(providers) > 0 && !slices.Contains(providers, pv.Entry.ID) {
			continue
		}
		ap := adminProvider{Provider: pv.Entry, SeqNumber: pv.SeqNumber, Services: []adminService{}}
		for _, s := range pv.Services {
			if kind != "" && s.Kind != kind || status != "" && s.Service.Status != status {
				continue
			}
			as := adminService{ServiceEntry: s, Placeable: placeableNow(pv.Entry, s, now)}
			if as.Placeable {
				ap.Placeable++
			}
			ap.Services = append(ap.Services, as)
		}
		if (kind != "" || status != "") && len(ap.Services) == 0 {
			continue
		}
		out.Providers = append(out.Providers, ap)
	}
	if format == formatJSON {
		return writeJSON(w, out)
	}
	doc, err := catalogXML(out)
	if err != nil {
		return adminError(http.StatusInternalServerError, "writing the catalogue as XML: %v", err)
	}
	return writeXML(w, csbmsg.PublishMediaType, doc)
}

// catalogXML writes the catalogue with the draft's <Cloud-Service-Provider>
// and <Cloud-Service> elements, as the codec serialises them.
func catalogXML(c adminCatalog) (*etree.Document, error) {
	doc, root := newAdminDoc("catalog", csbmsg.PublishNS)
	root.CreateAttr("version", strconv.FormatUint(c.Version, 10))
	for _, k := range serviceKinds {
		pl := root.CreateElement("admin:placeable")
		pl.CreateAttr("kind", string(k))
		pl.SetText(strconv.Itoa(c.Placeable[k]))
	}
	for _, p := range c.Providers {
		pe := root.CreateElement("admin:provider")
		pe.CreateAttr("source", string(p.Provider.Source))
		if p.Provider.SubscriptionID != "" {
			pe.CreateAttr("subscription-id", p.Provider.SubscriptionID)
		}
		if p.SeqNumber > 0 {
			pe.CreateAttr("seqnumber", strconv.FormatUint(p.SeqNumber, 10))
		}
		setTime(pe, "expires", p.Provider.Expires)
		setTime(pe, "updated", p.Provider.UpdatedAt)
		pe.CreateAttr("placeable", strconv.Itoa(p.Placeable))

		n := &csbmsg.Notification{ID: "admin", SeqNumber: 1, EncryptionSupport: p.Provider.EncryptionSupport, Label: p.Provider.Label,
			Provider: csbmsg.Provider{ID: p.Provider.ID, Status: p.Provider.Status, URI: p.Provider.URI}}
		for _, s := range p.Services {
			n.Services = append(n.Services, s.Service)
		}
		placeholder := len(n.Services) == 0
		if placeholder { // a notification carries at least one service
			n.Services = []csbmsg.Service{{ID: "none", Status: csbmsg.ServiceActive}}
		}
		data, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: n})
		if err != nil {
			return nil, fmt.Errorf("provider %q: %v", p.Provider.ID, err)
		}
		els, err := draftElements(data, "csbnotification")
		if err != nil {
			return nil, fmt.Errorf("provider %q: %v", p.Provider.ID, err)
		}
		i := 0
		for _, el := range els {
			if el.Tag != "Cloud-Service" {
				pe.AddChild(el)
				continue
			}
			if placeholder {
				continue
			}
			s := p.Services[i]
			i++
			se := pe.CreateElement("admin:service")
			se.CreateAttr("kind", string(s.Kind))
			se.CreateAttr("source", string(s.Source))
			setTime(se, "expires", s.Expires)
			setTime(se, "updated", s.UpdatedAt)
			se.CreateAttr("placeable", strconv.FormatBool(s.Placeable))
			se.AddChild(el)
		}
	}
	return doc, nil
}

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
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, "GET")
	}
	format, err := negotiate(r, csbmsg.ConsumerMediaType)
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
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, "GET")
	}
	format, err := negotiate(r, csbmsg.ConsumerMediaType)
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
// GET /csb/subscriptions

// adminSubscription is one subscription of GET /csb/subscriptions.
type adminSubscription struct {
	publish.State
	// LastNotification is the last notification applied under the
	// subscription id (as far as the catalogue knows, cluster-wide).
	LastNotification *adminNotification `json:"last_notification,omitempty"`
}

type adminNotification struct {
	SeqNumber uint64    `json:"seqnumber"`
	At        time.Time `json:"at"`
}

func serveAdminSubscriptions(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, "GET")
	}
	format, err := negotiate(r, csbmsg.PublishMediaType)
	if err != nil {
		return err
	}
	e := currentEngine()
	if e == nil {
		return adminError(http.StatusServiceUnavailable, "no csb app is running")
	}
	q := r.URL.Query()
	providers, states := listParam(q, "provider"), listParam(q, "state")
	out := []adminSubscription{}
	for _, s := range e.subs.Snapshot() {
		if len(providers) > 0 && !slices.Contains(providers, s.ProviderID) || len(states) > 0 && !slices.Contains(states, s.Status) {
			continue
		}
		if u, err := url.Parse(s.URL); err == nil {
			s.URL = u.Redacted()
		}
		as := adminSubscription{State: s}
		if pe, ok := e.catalog.Provider(s.ProviderID); ok && pe.SubscriptionID == s.ID && s.ID != "" {
			if seq, _, ok := e.catalog.Sequence(s.ID); ok {
				as.LastNotification = &adminNotification{SeqNumber: seq, At: pe.UpdatedAt}
			}
		}
		out = append(out, as)
	}
	if format == formatJSON {
		return writeJSON(w, out)
	}
	doc, root := newAdminDoc("subscriptions", csbmsg.PublishNS)
	for _, s := range out {
		el := root.CreateElement("admin:subscription")
		el.CreateAttr("provider", s.ProviderID)
		el.CreateAttr("url", s.URL)
		el.CreateAttr("status", s.Status)
		el.CreateAttr("active", strconv.FormatBool(s.Active))
		setTime(el, "granted-at", s.GrantedAt)
		setTime(el, "expires-at", s.ExpiresAt)
		setTime(el, "renew-at", s.RenewAt)
		setTime(el, "updated", s.UpdatedAt)
		if s.LastError != "" {
			el.CreateAttr("last-error", s.LastError)
			el.CreateAttr("failures", strconv.Itoa(s.Failures))
		}
		if ln := s.LastNotification; ln != nil {
			el.CreateAttr("last-notification-seqnumber", strconv.FormatUint(ln.SeqNumber, 10))
			setTime(el, "last-notification-at", ln.At)
		}
		if s.ID == "" {
			continue
		}
		// The draft's <subscription> with the granted values; its action
		// is the last command's (create for seqnumber 1, else update).
		action := csbmsg.ActionUpdate
		if s.SeqNumber <= 1 {
			action = csbmsg.ActionCreate
		}
		data, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Request: &csbmsg.PublishRequest{
			Subscription: csbmsg.Subscription{ID: s.ID, SeqNumber: max(s.SeqNumber, 1), Action: action, Expires: s.Expires, Frequency: s.Frequency}}})
		if err != nil {
			el.CreateAttr("id", s.ID)
			continue
		}
		if els, err := draftElements(data, "csbrequest"); err == nil {
			for _, c := range els {
				el.AddChild(c)
			}
		}
	}
	return writeXML(w, csbmsg.PublishMediaType, doc)
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
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r, "POST")
	}
	format, err := negotiate(r, csbmsg.ConsumerMediaType)
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

// Interface guards.
var _ caddy.AdminRouter = AdminAPI{}
