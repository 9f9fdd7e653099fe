package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
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

// adminRequest checks what every admin endpoint checks first: the method
// (405 with Allow otherwise) and the answer's format, JSON or XML in the
// draft's names under draftType (406 otherwise).
func adminRequest(w http.ResponseWriter, r *http.Request, method, draftType string) (adminFormat, error) {
	if r.Method != method {
		return 0, methodNotAllowed(w, r, method)
	}
	return negotiate(r, draftType)
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
	format, err := adminRequest(w, r, http.MethodGet, csbmsg.PublishMediaType)
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
	format, err := adminRequest(w, r, http.MethodGet, csbmsg.PublishMediaType)
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

// Interface guards.
var _ caddy.AdminRouter = AdminAPI{}
