package csbconsole

// The pages: what each one reads from the engine, and the forms' actions.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/quota"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/svclink"
)

// maxFormBytes bounds a POSTed form.
const maxFormBytes = 256 << 10

// request is one console request being served.
type request struct {
	c        *Console
	w        http.ResponseWriter
	r        *http.Request
	repl     *caddy.Replacer
	user     string
	operator bool
}

// page is what every page's template gets.
type page struct {
	Title    string
	Nav      string // the current section: catalogue, jobs, new, operator
	Prefix   string
	User     string
	Operator bool
	CSRF     string
	Notice   string // a success message
	Alert    string // a failure message
	Now      time.Time
	Data     any
}

func (rq *request) only(method string, serve func() error) error {
	if rq.r.Method != method && !(method == http.MethodGet && rq.r.Method == http.MethodHead) {
		rq.w.Header().Set("Allow", method)
		return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s", rq.r.Method, rq.r.URL.Path))
	}
	return serve()
}

func (rq *request) render(status int, name string, p *page) error {
	p.Prefix, p.User, p.Operator, p.Now = rq.c.Prefix, rq.user, rq.operator, time.Now()
	if p.CSRF == "" {
		tok, err := rq.c.csrf.token(rq.r.Context(), rq.user, p.Now)
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		p.CSRF = tok
	}
	return rq.c.pages.render(rq.w, status, name, p)
}

// checkPost refuses a POST that does not come from the console's own
// form for this user (csrf.go), with 403.
func (rq *request) checkPost() error {
	if err := sameOrigin(rq.r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("csb_console: %v", err))
	}
	rq.r.Body = http.MaxBytesReader(rq.w, rq.r.Body, maxFormBytes)
	if err := rq.r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return caddyhttp.Error(http.StatusRequestEntityTooLarge, err)
		}
		return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("csb_console: reading the form: %v", err))
	}
	if err := rq.c.csrf.verify(rq.r.Context(), rq.user, rq.r.PostForm.Get(csrfField), time.Now()); err != nil {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("csb_console: %v", err))
	}
	return nil
}

// ---- catalogue ----

type providerView struct {
	ID         string
	Status     string
	Label      string
	Price      string
	Healthy    bool
	Source     string
	Expires    time.Time
	Updated    time.Time
	Placeable  int
	Services   []serviceView
	Configured bool
}

type serviceView struct {
	ID        string
	Kind      string
	Status    string
	Expires   time.Time
	Capacity  string
	Placeable bool
}

func (rq *request) providers() []providerView {
	cat := rq.c.app.Catalogue()
	if cat == nil {
		return nil
	}
	now := time.Now()
	var out []providerView
	seen := map[string]bool{}
	// A consumer sees the providers its access lists let it use, as the
	// Consumer interface's catalogue shows them; operators see them all.
	var access *placement.Access
	if !rq.operator {
		access = rq.c.app.ConsumerAccess(rq.user)
	}
	for _, pv := range cat.Snapshot() {
		if !access.Permits(pv.Entry.ID) {
			seen[pv.Entry.ID] = true
			continue
		}
		p := providerView{ID: pv.Entry.ID, Status: string(pv.Entry.Status), Label: pv.Entry.Label, Healthy: cat.Healthy(pv.Entry.ID),
			Source: string(pv.Entry.Source), Expires: pv.Entry.Expires, Updated: pv.Entry.UpdatedAt}
		if price, ok := placement.ParsePriceLabel(pv.Entry.Label); ok {
			p.Price = fmt.Sprintf("%g", price)
		}
		for _, s := range pv.Services {
			sv := serviceView{ID: s.Service.ID, Kind: string(s.Kind), Status: string(s.Service.Status), Expires: s.Expires, Capacity: capacity(s.Service),
				Placeable: pv.Entry.Status == csbmsg.ServiceActive && s.Service.Status == csbmsg.ServiceActive && s.Kind != "" && (s.Expires.IsZero() || now.Before(s.Expires))}
			if sv.Placeable {
				p.Placeable++
			}
			if sv.Kind == "" {
				sv.Kind = "none"
			}
			p.Services = append(p.Services, sv)
		}
		seen[p.ID] = true
		out = append(out, p)
	}
	for _, cp := range rq.c.app.Providers {
		if !seen[cp.ID] && access.Permits(cp.ID) {
			out = append(out, providerView{ID: cp.ID, Status: "not in the catalogue yet", Healthy: cat.Healthy(cp.ID), Configured: true})
		}
	}
	return out
}

// capacity describes what a service offers (for a provider that
// publishes its free capacity, what is left).
func capacity(s csbmsg.Service) string {
	var parts []string
	add := func(f string, a ...any) { parts = append(parts, fmt.Sprintf(f, a...)) }
	parts = append(parts, s.IaaS.Sizes()...)
	if s.IaaS != nil && s.IaaS.Network != nil {
		add("network")
	}
	if d := s.DSaaS; d != nil {
		for _, o := range []struct {
			name string
			on   bool
		}{{"data objects", d.DataObject != nil}, {"containers", d.ContainerObject != nil}, {"domains", d.DomainObject != nil},
			{"queues", d.QueueObject != nil}, {"capabilities", d.CapabilityObject != nil}} {
			if o.on {
				add("%s", o.name)
			}
		}
	}
	for _, l := range []*csbmsg.Link{svclink.Of(s.PaaS), svclink.Of(s.SaaS)} {
		if l != nil && l.Rel != "" {
			add("rel %s", l.Rel)
		}
	}
	if len(parts) == 0 {
		return "not stated"
	}
	return strings.Join(parts, ", ")
}

func (rq *request) catalogue() error {
	return rq.render(http.StatusOK, "catalogue", &page{Title: "Catalogue", Nav: "catalogue", Data: rq.providers()})
}

// ---- jobs ----

type jobView struct {
	ID        string
	Owner     string
	Status    string
	Kind      string
	Provider  string
	Service   string
	Expires   time.Time // lease end; zero when none runs
	LeaseLeft string
	Attempts  int
	Reason    string
	Created   time.Time
	Live      bool // renewable and removable
	InFlight  bool // pending or provisioning: the page long-polls it (console.js)
	URI       string
	// Cost is what the job cost so far (docs/costs.md), "" for a job
	// without a cost; CostFinal tells whether it still accrues, at
	// CostRate per hour (CostPrice per CostUnit, CostUnits of them).
	Cost      string
	CostFinal bool
	CostRate  string
	CostPrice string
	CostUnit  string
	CostUnits string
}

func viewJob(j *jobs.Job, now time.Time) jobView {
	v := jobView{ID: j.ID, Owner: j.Owner, Status: string(j.Status), Kind: string(j.Kind), Provider: j.ProviderID, Service: j.ServiceID,
		Attempts: len(j.Attempts), Reason: j.Reason, Created: j.Created, URI: j.CloudServiceURI(),
		Live: j.Status == jobs.StatusSuccess || j.Status.InFlight(), InFlight: j.Status.InFlight()}
	if j.Status == jobs.StatusSuccess && !j.Expires.IsZero() {
		v.Expires = j.Expires
		v.LeaseLeft = left(j.Expires.Sub(now))
	}
	if c := j.Cost; c != nil {
		v.Cost, v.CostFinal = quota.Money(c.Amount(now)), c.Final()
		v.CostRate, v.CostPrice, v.CostUnit = quota.Money(c.Rate()), quota.Money(c.Price), string(c.Unit)
		v.CostUnits = strconv.FormatFloat(c.Units, 'f', -1, 64)
	}
	return v
}

// left writes a duration left as the countdown does (console.js).
func left(d time.Duration) string {
	if d <= 0 {
		return "ended"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %02dm %02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// listJobs returns the jobs the user sees: its own, or everybody's for
// an operator, newest first.
func (rq *request) listJobs() ([]jobView, error) {
	m := rq.c.app.JobManager()
	var js []*jobs.Job
	var err error
	if rq.operator {
		js, err = m.List(rq.r.Context(), jobs.Filter{})
	} else {
		js, err = m.ListOwned(rq.r.Context(), rq.user)
	}
	if err != nil {
		return nil, caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("csb_console: listing jobs: %v", err))
	}
	sort.SliceStable(js, func(a, b int) bool { return js[a].Created.After(js[b].Created) })
	now := time.Now()
	out := make([]jobView, 0, len(js))
	for _, j := range js {
		out = append(out, viewJob(j, now))
	}
	return out, nil
}

func (rq *request) jobs() error {
	return rq.jobsPage(http.StatusOK, "")
}

func (rq *request) jobsPage(status int, alert string) error {
	list, err := rq.listJobs()
	if err != nil {
		return err
	}
	p := &page{Title: "Jobs", Nav: "jobs", Data: list, Alert: alert}
	q := rq.r.URL.Query()
	// The notice names a job only when it is one of the listed jobs, so a
	// crafted link cannot make the page say anything else.
	if id := q.Get("job"); validJobID(id) && slices.ContainsFunc(list, func(j jobView) bool { return j.ID == id }) {
		switch q.Get("done") {
		case "created":
			p.Notice = "Job " + id + " was created."
		case "renewed":
			p.Notice = "The lease of job " + id + " was renewed."
		case "removed":
			p.Notice = "Job " + id + " was removed."
		}
	}
	return rq.render(status, "jobs", p)
}

// lookup returns the job id of the user (any user's for an operator),
// or nil when it is not there.
func (rq *request) lookup(id string) (*jobs.Job, error) {
	m := rq.c.app.JobManager()
	var j *jobs.Job
	var err error
	if rq.operator {
		j, err = m.Inspect(rq.r.Context(), id)
	} else {
		j, err = m.Get(rq.r.Context(), rq.user, id)
	}
	if errors.Is(err, jobs.ErrNoJob) {
		return nil, nil
	}
	if err != nil {
		return nil, caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("csb_console: reading job: %v", err))
	}
	return j, nil
}

type jobDetail struct {
	Job      jobView
	Attempts []jobs.Attempt
	Decision string
	XML      string
}

func (rq *request) job(id string) error {
	j, err := rq.lookup(id)
	if err != nil {
		return err
	}
	if j == nil {
		return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no such job: %s", id))
	}
	if rq.r.URL.Query().Has("wait") {
		if j, err = rq.waitJob(j); err != nil {
			return err
		}
	}
	req := j.Granted()
	d := jobDetail{Job: viewJob(j, time.Now()), Attempts: j.Attempts, Decision: j.Decision, XML: xmlOf(&req)}
	return rq.render(http.StatusOK, "job", &page{Title: "Job " + j.ID, Nav: "jobs", Data: d})
}

// maxWait bounds a job page's ?wait= (the csb app's events { max_wait }
// may shorten it further).
const maxWait = 60 * time.Second

// waitJob serves a job page's ?wait=<duration> (console.js asks for it
// while the job is pending or provisioning): the page is answered when
// the job's status changes or the wait is over, as the Consumer
// interface's long-poll does, with the job's status and the wait
// applied in the Csb-Job-Status and Csb-Wait headers. A job that is not
// in flight, or a broker without events, is answered at once (without
// Csb-Wait, so the script stops asking).
func (rq *request) waitJob(j *jobs.Job) (*jobs.Job, error) {
	d, err := time.ParseDuration(rq.r.URL.Query().Get("wait"))
	if err != nil || d <= 0 {
		return nil, caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("csb_console: wait %q: want a positive duration such as 30s", rq.r.URL.Query().Get("wait")))
	}
	hdr := rq.w.Header()
	if !j.Status.InFlight() {
		hdr.Set("Csb-Job-Status", string(j.Status))
		return j, nil
	}
	cur, applied, err := rq.c.app.WaitJobChange(rq.r.Context(), j.ID, min(d, maxWait), func(context.Context) (*jobs.Job, error) {
		got, err := rq.lookup(j.ID)
		if err == nil && got == nil {
			err = jobs.ErrNoJob
		}
		return got, err
	})
	switch {
	case errors.Is(err, caddymodule.ErrNoEvents):
		cur = j
	case cur != nil && rq.r.Context().Err() != nil:
		return nil, rq.r.Context().Err() // the browser went away
	case errors.Is(err, jobs.ErrNoJob):
		return nil, caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no such job: %s", j.ID))
	case err != nil:
		return nil, err
	default:
		hdr.Set("Csb-Wait", strconv.FormatFloat(applied.Seconds(), 'f', -1, 64))
	}
	hdr.Set("Csb-Job-Status", string(cur.Status))
	return cur, nil
}

// act renews or removes a job (POST /jobs/<id>/renew|remove).
func (rq *request) act(id, action string) error {
	if err := rq.checkPost(); err != nil {
		return err
	}
	j, err := rq.lookup(id)
	if err != nil {
		return err
	}
	if j == nil {
		return rq.jobsPage(http.StatusNotFound, "No such job: "+id+".")
	}
	rq.repl.Set("http.csb.job.id", j.ID)
	m := rq.c.app.JobManager()
	var res *jobs.Result
	if action == "renew" {
		// An update that changes nothing renews the lease (the Consumer
		// interface's PUT with an empty body).
		res, err = m.Update(rq.r.Context(), j.Owner, j.ID, &csbmsg.ServiceRequest{}, 0)
	} else {
		res, err = m.Remove(rq.r.Context(), j.Owner, j.ID)
	}
	if err != nil {
		if errors.Is(err, jobs.ErrNoJob) {
			return rq.jobsPage(http.StatusNotFound, "No such job: "+id+".")
		}
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("csb_console: %s job %s: %v", action, id, err))
	}
	rq.c.logger.Info("console job "+action, zap.String("user", rq.user), zap.String("job_id", j.ID), zap.String("owner", j.Owner),
		zap.Int("status", int(res.Status)))
	if res.Status != csbmsg.StatusOK {
		return rq.jobsPage(http.StatusOK, fmt.Sprintf("Could not %s job %s: status %d, %s", action, id, res.Status, res.Reason))
	}
	done := map[string]string{"renew": "renewed", "remove": "removed"}[action]
	http.Redirect(rq.w, rq.r, rq.c.Prefix+"/jobs?"+url.Values{"done": {done}, "job": {j.ID}}.Encode(), http.StatusSeeOther)
	return nil
}

// ---- new request ----

type newView struct {
	Form    *requestForm
	Explain *explanation
	XML     string
	Kinds   [][2]string
}

var kinds = [][2]string{{"iaas", "IaaS: a virtual machine"}, {"dsaas", "DSaaS: object storage"}, {"paas", "PaaS: a platform"}, {"saas", "SaaS: an application"}}

func newKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newRequest shows the form; with explain=1 it also dry-runs the request
// and shows its placement and a button that submits it.
func (rq *request) newRequest() error {
	q := rq.r.URL.Query()
	f := readForm(q)
	if f.Key == "" || len(f.Key) > 64 {
		f.Key = newKey()
	}
	v := &newView{Form: f, Kinds: kinds}
	p := &page{Title: "New request", Nav: "new", Data: v}
	if q.Get("explain") == "" {
		return rq.render(http.StatusOK, "new", p)
	}
	req := f.build()
	if req == nil {
		p.Alert = "Some fields need fixing."
		return rq.render(http.StatusBadRequest, "new", p)
	}
	v.XML = xmlOf(req)
	exp, err := explain(rq.r.Context(), rq.c.app, rq.user, req)
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("csb_console: placement: %v", err))
	}
	v.Explain = exp
	p.Title = "Placement of the request"
	return rq.render(http.StatusOK, "new", p)
}

// create submits the form's request as a job, as the Consumer interface
// would (POST /new).
func (rq *request) create() error {
	if err := rq.checkPost(); err != nil {
		return err
	}
	f := readForm(rq.r.PostForm)
	v := &newView{Form: f, Kinds: kinds}
	p := &page{Title: "New request", Nav: "new", Data: v}
	req := f.build()
	if req == nil {
		p.Alert = "Some fields need fixing."
		return rq.render(http.StatusBadRequest, "new", p)
	}
	if len(f.Key) > 64 {
		f.Key = ""
	}
	key := ""
	if f.Key != "" {
		key = "console:" + f.Key
	}
	m := rq.c.app.JobManager()
	res, err := m.Create(rq.r.Context(), rq.user, req, rq.c.app.ConsumerCreateOptions(rq.user, key, f.lease()))
	switch {
	case errors.Is(err, jobs.ErrIdempotencyMismatch):
		f.Key = newKey()
		p.Alert = "This form was already submitted with other values; check them and submit again."
		return rq.render(http.StatusConflict, "new", p)
	case errors.Is(err, jobs.ErrNotRecorded):
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	case err != nil:
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("csb_console: create: %v", err))
	}
	if res.Job != nil {
		rq.repl.Set("http.csb.job.id", res.Job.ID)
	}
	rq.c.logger.Info("console job create", zap.String("user", rq.user), zap.Int("status", int(res.Status)))
	if res.Status != csbmsg.StatusOK || res.Job == nil {
		v.XML = xmlOf(req)
		f.Key = newKey()
		p.Alert = fmt.Sprintf("The broker did not create the job: status %d, %s", res.Status, res.Reason)
		return rq.render(http.StatusOK, "new", p)
	}
	http.Redirect(rq.w, rq.r, rq.c.Prefix+"/jobs?"+url.Values{"done": {"created"}, "job": {res.Job.ID}}.Encode(), http.StatusSeeOther)
	return nil
}

// ---- operator ----

type subscriptionView struct {
	Provider  string
	Status    string
	Active    bool
	URL       string
	GrantedAt time.Time
	ExpiresAt time.Time
	RenewAt   time.Time
	LastError string
	Failures  int
}

type operatorView struct {
	Subscriptions []subscriptionView
	Providers     []providerView
	Jobs          [][2]string // state, count
	Version       uint64
	Placeable     [][2]string // kind, count
	Expired       int
}

func (rq *request) operatorPage() error {
	if !rq.operator {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("csb_console: %s is not an operator", rq.user))
	}
	v := operatorView{Providers: rq.providers()}
	for _, s := range rq.c.app.SubscriptionStates() {
		v.Subscriptions = append(v.Subscriptions, subscriptionView{Provider: s.ProviderID, Status: s.Status, Active: s.Active, URL: s.URL,
			GrantedAt: s.GrantedAt, ExpiresAt: s.ExpiresAt, RenewAt: s.RenewAt, LastError: s.LastError, Failures: s.Failures})
	}
	if cat := rq.c.app.Catalogue(); cat != nil {
		v.Version = cat.Version()
		st := cat.Stats()
		v.Expired = st.Expired
		for _, k := range []catalog.Kind{catalog.KindIaaS, catalog.KindPaaS, catalog.KindSaaS, catalog.KindDSaaS} {
			v.Placeable = append(v.Placeable, [2]string{string(k), fmt.Sprint(st.Placeable[k])})
		}
	}
	census, err := rq.c.app.JobManager().Census(rq.r.Context())
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("csb_console: counting jobs: %v", err))
	}
	count := map[jobs.Status]int{}
	for _, j := range census {
		count[j.Status]++
	}
	for _, s := range []jobs.Status{jobs.StatusPending, jobs.StatusProvisioning, jobs.StatusSuccess, jobs.StatusFailed, jobs.StatusExpired, jobs.StatusRemoved} {
		v.Jobs = append(v.Jobs, [2]string{string(s), fmt.Sprint(count[s])})
	}
	slices.SortFunc(v.Subscriptions, func(a, b subscriptionView) int { return strings.Compare(a.Provider, b.Provider) })
	return rq.render(http.StatusOK, "operator", &page{Title: "Subscriptions and health", Nav: "operator", Data: v})
}
