package caddymodule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// Consumer interface (draft section 4.2), served by the csb handler at
// consumer_path (default /csb/consumer):
//
//	POST    <consumer_path>          create a job from a <CloudServiceRequest>;
//	                                 with <job-info> action update/remove, act on that job
//	GET     <consumer_path>          the caller's jobs; ?catalog, POST ?explain: consumer_list.go
//	GET     <consumer_path>/<job-id> retrieve the job
//	HEAD    <consumer_path>/<job-id> the job's metadata (headers only)
//	PUT     <consumer_path>/<job-id> update (resize, actions); no change = lease renewal
//	DELETE  <consumer_path>/<job-id> remove
//	COPY    <consumer_path>/<job-id> duplicate the job on another provider (a new job)
//	MOVE    <consumer_path>/<job-id> relocate it to another provider (same job id)
//	OPTIONS any                      the Allow header
//
// Protocol outcomes are HTTP 200 with <CloudServiceResponse status reason>
// and the codes of the draft's table 2 (200, 400, 408, 409, 410, 420).
// HTTP-level problems get HTTP statuses: 405 with Allow, 406 (Accept
// excludes application/csb-consumer+xml), 409 (a create with the
// Idempotency-Key of one still in progress), 413, 415, 422 (an
// Idempotency-Key reused with another request), 403 (no authenticated
// user and "anonymous refuse"), 404 (a path below a job), 503 (a create
// that could not be recorded), 500.
//
// A job id that does not exist and one that belongs to another user get
// the same answer, by the same path and in the same time (jobs.Manager
// reads one missing key of its owner index for both): HTTP 200 with the
// status the verb fails with (408 for GET, HEAD, COPY and MOVE, 409 for
// PUT and update, 410 for DELETE and remove) and the reason "no such
// job: <id>" ("no such job" alone when the id holds bytes other than
// printable ASCII: any byte sequence gets this answer, never a 500).
//
// Limits: a text field or attribute value longer than the xml
// max_text_size (64 KiB) is answered 400; a create or COPY beyond the
// jobs max_jobs_per_owner (1000 records per user, retained ones
// included) is answered 408 with a reason that names the job limit. A
// create the broker could not record (its storage refuses writes) is
// answered 503 when nothing was provisioned and nothing is left;
// otherwise the answer carries the job id with the job pending.
//
// Request headers: Idempotency-Key (POST create: a retry returns the same
// job; a COPY or MOVE with one, or with a body, is answered 400),
// Csb-Lease (seconds; asks for a lease length within the configured
// bounds), Csb-Max-Price (create, COPY, MOVE: the highest price per hour
// per cost unit the consumer accepts; providers above it, or without a
// price, are not chosen), Csb-Provider (create, COPY, MOVE, explain:
// narrows the user's provider lists to those named; a PUT, DELETE or
// POST <job-info> with it or Csb-Max-Price is answered 400), Csb-Callback and
// Csb-Callback-Secret (POST create: a webhook for the job's events;
// consumer_wait.go). GET ?wait=<duration> is a long-poll
// (consumer_wait.go). Response headers
// besides the body: Csb-Status (the protocol status), Csb-Job-Id,
// Csb-Job-Status, Csb-Expires (lease seconds left), Csb-Provider-Id (once
// a provider holds the job), for a job that costs something Csb-Cost (its
// cost so far, final once it ended) and Csb-Cost-Detail
// (state=accruing|final, rate per hour, price, unit, units; see
// docs/costs.md) and, for a created job, Location. A create or COPY over a
// quota (the csb quota option) is answered 408, an update that grows a
// job past one 409, each with a reason naming the limit.
//
// Placeholders set for later handlers and logs: {http.csb.job.id} (also
// the id asked for when it names no job of the user), {http.csb.provider.id}
// (once a provider holds the job), {http.csb.outcome} (the protocol status
// code). See Handler.

const (
	allowCollection = "GET, HEAD, POST, OPTIONS"
	allowJob        = "GET, HEAD, PUT, DELETE, COPY, MOVE, OPTIONS"
)

// allowed reports whether method is one of allow's (a comma-separated
// Allow value), matched whole, without allocating: it runs on every
// request of the Consumer interface.
func allowed(allow, method string) bool {
	for allow != "" {
		var m string
		m, allow, _ = strings.Cut(allow, ", ")
		if m == method {
			return true
		}
	}
	return false
}

// serveConsumer serves the Consumer interface.
func (h *Handler) serveConsumer(w http.ResponseWriter, r *http.Request) error {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok && repl.ReplaceAll("{http.auth.user.csb_job}", "") != "" {
		return caddyhttp.Error(http.StatusForbidden, errors.New("a credential scoped to one job (an OSB binding's) reaches only that job's route, not the Consumer interface"))
	}
	rest := strings.TrimPrefix(r.URL.Path, h.ConsumerPath)
	jobID := strings.TrimPrefix(rest, "/")
	collection := jobID == ""
	if strings.Contains(jobID, "/") {
		return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no consumer resource at %s", r.URL.Path))
	}
	allow := allowJob
	if collection {
		allow = allowCollection
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", allow)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if !allowed(allow, r.Method) {
		w.Header().Set("Allow", allow)
		return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s", r.Method, r.URL.Path))
	}
	if collection && consumerExtension(r) {
		return h.serveCollection(w, r) // consumer_list.go
	}
	if err := checkAccept(r, csbmsg.ConsumerMediaType); err != nil {
		return err
	}
	eng := h.app.consumer()
	view := h.app.consumerView
	if eng == nil || view == nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, errors.New("consumer interface not configured"))
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	owner, err := consumerOwnerOf(repl.ReplaceAll("{http.auth.user.id}", ""), view.cfg)
	if err != nil {
		return err
	}
	lease, err := leaseHeader(r)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	maxPrice, err := maxPriceHeader(r)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	c := &consumerCall{h: h, w: w, r: r, repl: repl, m: eng.jobs, owner: owner, cfg: view.cfg, lease: lease, maxPrice: maxPrice}
	if r.Method != http.MethodPost {
		if err := c.noCallback(); err != nil {
			return err
		}
	}

	switch r.Method {
	case http.MethodPost:
		return c.post()
	case http.MethodGet, http.MethodHead:
		if r.URL.Query().Has("wait") {
			return c.longPoll(jobID) // consumer_wait.go
		}
		j, err := c.m.Get(r.Context(), owner, jobID)
		if err != nil {
			return c.fail(err, csbmsg.StatusUnableToFindResource, jobID)
		}
		return c.answer(c.m.Answer(j), false)
	case http.MethodPut:
		if err := c.notPlaced("an update"); err != nil {
			return err
		}
		req := &csbmsg.ServiceRequest{}
		empty, err := bodyEmpty(r)
		if err != nil {
			return err
		}
		if !empty {
			msg, perr, err := c.parseBody()
			if err != nil || perr != nil {
				return c.parseFailure(perr, err)
			}
			req = msg
			if ji := req.JobInfo; ji != nil && (ji.JobID != "" && ji.JobID != jobID || ji.Action == csbmsg.JobRemove) {
				return c.answer(&jobs.Result{Status: csbmsg.StatusSyntaxError, Reason: "a PUT's <job-info> must name the job of the URI and action update (remove with DELETE)"}, false)
			}
		}
		res, err := c.m.Update(r.Context(), owner, jobID, req, lease)
		if err != nil {
			return c.fail(err, csbmsg.StatusCannotUpdateResource, jobID)
		}
		return c.answer(res, false)
	case http.MethodDelete:
		if err := c.notPlaced("a removal"); err != nil {
			return err
		}
		res, err := c.m.Remove(r.Context(), owner, jobID)
		if err != nil {
			return c.fail(err, csbmsg.StatusCannotRemoveResource, jobID)
		}
		return c.answer(res, false)
	case "COPY":
		if err := c.nothingElse(); err != nil {
			return err
		}
		res, err := c.m.Copy(r.Context(), owner, jobID, jobs.CreateOptions{Lease: lease, Access: c.access(), MaxPrice: maxPrice})
		if err != nil {
			return c.fail(err, csbmsg.StatusUnableToFindResource, jobID)
		}
		return c.answer(res, res.Status == csbmsg.StatusOK)
	case "MOVE":
		if err := c.nothingElse(); err != nil {
			return err
		}
		res, err := c.m.Move(r.Context(), owner, jobID, jobs.CreateOptions{Lease: lease, Access: c.access(), MaxPrice: maxPrice})
		if err != nil {
			return c.fail(err, csbmsg.StatusUnableToFindResource, jobID)
		}
		return c.answer(res, false)
	}
	w.Header().Set("Allow", allow)
	return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", r.Method))
}

// consumerCall is one Consumer interface request being served.
type consumerCall struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	repl  *caddy.Replacer
	m     *jobs.Manager
	owner string
	cfg   *ConsumerConfig
	lease time.Duration
	// maxPrice is the Csb-Max-Price header's value (nil: none).
	maxPrice *float64
	// unknownJob is the job id asked for when it names no job of the
	// user ({http.csb.job.id} of the answer).
	unknownJob string
}

// post serves POST on the collection: a create, or an update/remove named
// by <job-info>.
func (c *consumerCall) post() error {
	req, perr, err := c.parseBody()
	if err != nil || perr != nil {
		return c.parseFailure(perr, err)
	}
	ctx := c.r.Context()
	if ji := req.JobInfo; ji != nil {
		if err := c.noCallback(); err != nil {
			return err
		}
		if err := c.notPlaced("an update or a removal"); err != nil {
			return err
		}
		switch {
		case ji.JobID == "":
			return c.answer(&jobs.Result{Status: csbmsg.StatusSyntaxError, Reason: "<job-info> needs a <job-id>"}, false)
		case ji.Action == csbmsg.JobUpdate:
			res, err := c.m.Update(ctx, c.owner, ji.JobID, req, c.lease)
			if err != nil {
				return c.fail(err, csbmsg.StatusCannotUpdateResource, ji.JobID)
			}
			return c.answer(res, false)
		case ji.Action == csbmsg.JobRemove:
			res, err := c.m.Remove(ctx, c.owner, ji.JobID)
			if err != nil {
				return c.fail(err, csbmsg.StatusCannotRemoveResource, ji.JobID)
			}
			return c.answer(res, false)
		default:
			return c.answer(&jobs.Result{Status: csbmsg.StatusSyntaxError, Reason: "<job-info> needs an <action>: update or remove"}, false)
		}
	}
	subs, registered, err := c.callback() // consumer_wait.go
	if err != nil {
		return err
	}
	res, err := c.m.Create(ctx, c.owner, req, jobs.CreateOptions{
		IdempotencyKey:   c.r.Header.Get("Idempotency-Key"),
		IdempotencyScope: c.idempotencyScope(),
		Lease:            c.lease,
		Access:           c.access(),
		MaxPrice:         c.maxPrice,
		Subscribers:      subs,
	})
	registered(res)
	if err != nil {
		return c.fail(err, csbmsg.StatusUnableToFindResource, "")
	}
	return c.answer(res, res.Job != nil && res.Status == csbmsg.StatusOK)
}

// idempotencyScope is what an Idempotency-Key covers of a create besides
// its body (jobs.CreateOptions.IdempotencyScope): the request headers that
// change what is created, as given. A retry that asks for another lease,
// other providers, another price limit or another callback is refused
// (422) like one with another body; it was answered with the job made
// for the first request, the callback it named silently dropped. Only
// the headers present count, so a retry of a create that had none
// matches the record it left before this scope existed.
func (c *consumerCall) idempotencyScope() string {
	var b strings.Builder
	if c.lease > 0 {
		fmt.Fprintf(&b, "lease=%d\n", c.lease/time.Second)
	}
	if c.maxPrice != nil {
		fmt.Fprintf(&b, "max-price=%s\n", strconv.FormatFloat(*c.maxPrice, 'g', -1, 64))
	}
	var providers []string
	for _, line := range c.r.Header.Values("Csb-Provider") {
		for _, id := range strings.Split(line, ",") {
			if id = strings.TrimSpace(id); id != "" && !slices.Contains(providers, id) {
				providers = append(providers, id)
			}
		}
	}
	if len(providers) > 0 {
		// A list of providers to choose from: its order means nothing.
		slices.Sort(providers)
		fmt.Fprintf(&b, "provider=%s\n", strings.Join(providers, ","))
	}
	if v := strings.TrimSpace(c.r.Header.Get(headerCallback)); v != "" {
		fmt.Fprintf(&b, "callback=%s\n", v)
	}
	if v := strings.TrimSpace(c.r.Header.Get(headerCallbackSecret)); v != "" {
		// The secret itself goes into no record.
		sum := sha256.Sum256([]byte(v))
		fmt.Fprintf(&b, "callback-secret=%s\n", hex.EncodeToString(sum[:]))
	}
	return b.String()
}

// notPlaced refuses (400) the placement headers on a request that places
// nothing (what): an update or a removal stays with the job's provider,
// and a Csb-Provider or Csb-Max-Price sent with one was dropped while the
// answer said 200.
func (c *consumerCall) notPlaced(what string) error {
	for _, h := range [...]string{"Csb-Provider", "Csb-Max-Price"} {
		if c.r.Header.Get(h) != "" {
			return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("%s is taken by a create, COPY, MOVE and explain only: %s keeps the job at its provider", h, what))
		}
	}
	return nil
}

// nothingElse refuses (400) what a COPY or MOVE would drop. Neither
// reads a body: the job goes with the request it has, and a
// <CloudServiceRequest> sent along (new values for the copy, say) got a
// 200 for less than it asked. Nor is a retry of either answered with the
// first one's outcome, whatever its Idempotency-Key: a second COPY makes a
// second job, a second MOVE moves the job on.
func (c *consumerCall) nothingElse() error {
	empty, err := bodyEmpty(c.r)
	if err != nil {
		return err
	}
	if !empty {
		return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("%s takes no body: the job keeps its request (change it with PUT)", c.r.Method))
	}
	if c.r.Header.Get("Idempotency-Key") != "" {
		return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("Idempotency-Key is taken by a create (POST without <job-info>) only: a retried %s is carried out again", c.r.Method))
	}
	return nil
}

// bodyEmpty reports whether r comes without body bytes. A body sent
// without a Content-Length (chunked on HTTP/1.1, most HTTP/2 bodies) can
// be empty too, which only reading tells: its first byte is read and put
// back in front of the rest.
func bodyEmpty(r *http.Request) (bool, error) {
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
		return true, nil
	case r.ContentLength > 0:
		return false, nil
	}
	var first [1]byte
	n, err := io.ReadFull(r.Body, first[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return true, nil
	case n == 0:
		return false, caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("reading request body: %w", err))
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(first[:]), r.Body), r.Body}
	return false, nil
}

// parseBody reads and parses a <csbconsumer> request body with the csb
// app's xml settings (mode, max_body_size, parser limits, charsets). A
// protocol problem comes back as perr (answered with its table 2 status);
// an HTTP-level one (415, 413) as err.
func (c *consumerCall) parseBody() (*csbmsg.ServiceRequest, *csbmsg.Error, error) {
	msg, err := c.h.app.XML.readConsumer(c.w, c.r)
	if err != nil {
		var ce *csbmsg.Error
		if !errors.As(err, &ce) {
			return nil, nil, err
		}
		if errors.Is(err, csbmsg.ErrTooLarge) {
			return nil, nil, caddyhttp.Error(http.StatusRequestEntityTooLarge, err)
		}
		return nil, ce, nil
	}
	if msg.Request == nil {
		return nil, &csbmsg.Error{Status: csbmsg.StatusSyntaxError, Reason: "the consumer interface takes a <CloudServiceRequest>"}, nil
	}
	return msg.Request, nil, nil
}

func (c *consumerCall) parseFailure(perr *csbmsg.Error, err error) error {
	if err != nil {
		return err
	}
	return c.answer(&jobs.Result{Status: perr.Status, Reason: perr.Reason}, false)
}

// fail turns an engine error into an answer: unknown and foreign job ids
// get the verb's failure status with the same reason; the rest are HTTP
// errors.
func (c *consumerCall) fail(err error, status csbmsg.Status, jobID string) error {
	switch {
	case errors.Is(err, jobs.ErrNoJob):
		reason := "no such job"
		if shownJobID(jobID) {
			c.unknownJob = jobID
			reason += ": " + jobID
		}
		return c.answer(&jobs.Result{Status: status, Reason: reason}, false)
	case errors.Is(err, jobs.ErrIdempotencyMismatch):
		return caddyhttp.Error(http.StatusUnprocessableEntity, err)
	case errors.Is(err, jobs.ErrIdempotencyBusy):
		return caddyhttp.Error(http.StatusConflict, err)
	case errors.Is(err, jobs.ErrNotRecorded):
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	return caddyhttp.Error(http.StatusInternalServerError, err)
}

// shownJobID reports whether an unknown job id may be echoed in the
// reason and in {http.csb.job.id}: at most 128 bytes of printable ASCII
// other than space. Any other byte sequence (control characters, invalid
// UTF-8, characters XML cannot carry) gets the same unknown-job answer
// without the id, never a response that cannot be serialized.
func shownJobID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// answer writes a <CloudServiceResponse>. The job's information and
// granted resources are included only with status 200 (draft section
// 4.2.2.5: response-job-info appears when the request succeeded).
func (c *consumerCall) answer(res *jobs.Result, created bool) error {
	// The reason may quote a provider's error text, which can hold
	// characters XML cannot carry; the serialiser would refuse the whole
	// answer (HTTP 500, for as long as the job is kept).
	resp := &csbmsg.ServiceResponse{Status: res.Status, Reason: csbmsg.CleanText(res.Reason)}
	hdr := c.w.Header()
	hdr.Set("Csb-Status", strconv.Itoa(int(res.Status)))
	ph := csbPlaceholders{status: res.Status, jobID: c.unknownJob}
	if j := res.Job; j != nil {
		ph.jobID, ph.providerID = j.ID, j.ProviderID
	}
	ph.set(c.repl)
	csbMetrics.observeConsumer(c.r.Method, res.Status)
	if j := res.Job; j != nil && res.Status == csbmsg.StatusOK {
		now := time.Now()
		resp.JobInfo = &csbmsg.ResponseJobInfo{JobID: j.ID, JobStatus: string(j.Status), Expires: j.ExpiresIn(now), CloudServiceURI: j.CloudServiceURI()}
		g := j.Granted()
		resp.IaaS, resp.PaaS, resp.SaaS, resp.DSaaS = g.IaaS, g.PaaS, g.SaaS, g.DSaaS
		hdr.Set("Csb-Job-Id", j.ID)
		if j.ProviderID != "" {
			hdr.Set("Csb-Provider-Id", j.ProviderID)
		}
		hdr.Set("Csb-Job-Status", string(j.Status))
		hdr.Set("Csb-Expires", strconv.FormatUint(resp.JobInfo.Expires, 10))
		hdr.Set("Last-Modified", j.Updated.UTC().Format(http.TimeFormat))
		if len(j.Ignored) > 0 {
			hdr.Set("Csb-Ignored-Fields", strings.Join(j.Ignored, ", "))
		}
		setCostHeaders(hdr, j, now)
		// <encryption> (draft 4.2.2.2): the service is encrypted when the
		// request asked for it, which placement grants only on a provider
		// that declares encryption-support.
		if want := j.Request.Encryption; want != nil {
			enc := *want && j.Encryption
			resp.Encryption = &enc
		}
		if created {
			hdr.Set("Location", c.h.ConsumerPath+"/"+j.ID)
		}
	}
	body, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Response: resp})
	if err != nil {
		body, err = csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Response: writable(resp)})
	}
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("serializing the response: %v", err))
	}
	hdr.Set("Cache-Control", "no-store")
	// HEAD: net/http sends the headers (Content-Length included) and
	// drops the body.
	if err := writeMessage(c.w, csbmsg.ConsumerMediaType, body); err != nil {
		return err
	}
	if ce := c.h.logger.Check(zap.DebugLevel, "consumer request"); ce != nil {
		fields := []zap.Field{zap.String("method", c.r.Method), zap.Int("status", int(res.Status)), zap.String("reason", res.Reason)}
		if res.Job != nil {
			fields = append(fields, zap.String("job_id", res.Job.ID), zap.String("provider_id", res.Job.ProviderID))
		}
		ce.Write(fields...)
	}
	return nil
}

// writable returns resp, or, when the serialiser refuses it, a copy
// without what came from the job's provider and cannot be written, its
// reason saying what is not shown. The granted resources and the
// Cloud-service-URI are the provider's values (adapter Resource.Granted
// and URI); one that XML cannot carry, or that is not of its schema type
// (a hostname with a control character, a URI that is none), would
// otherwise make every answer about the job an HTTP 500 for as long as
// the job is kept. The status, the reason and the job's id and status are
// the broker's own and always written.
func writable(resp *csbmsg.ServiceResponse) *csbmsg.ServiceResponse {
	ok := func(r *csbmsg.ServiceResponse) error {
		_, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Response: r})
		return err
	}
	err := ok(resp)
	if err == nil {
		return resp
	}
	out := *resp
	out.IaaS, out.PaaS, out.SaaS, out.DSaaS = nil, nil, nil, nil
	what := "the granted resources are"
	if out.JobInfo != nil && ok(&out) != nil {
		ji := *out.JobInfo
		ji.CloudServiceURI = ""
		out.JobInfo = &ji
		what = "the granted resources and the Cloud-service-URI are"
	}
	out.Reason = csbmsg.CleanText(fmt.Sprintf("%s; %s not shown: the provider's values cannot be written (%v)", out.Reason, what, err))
	return &out
}

// leaseHeader reads the optional Csb-Lease request header (seconds).
func leaseHeader(r *http.Request) (time.Duration, error) {
	v := r.Header.Get("Csb-Lease")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("Csb-Lease %q: want a positive number of seconds", v)
	}
	return time.Duration(n) * time.Second, nil
}
