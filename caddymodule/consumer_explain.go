package caddymodule

// POST <consumer_path>?explain: the placement dry-run for the caller (see
// consumer_list.go).

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// consumerExplanation is the answer of a consumer's explain: the
// protocol status a create of the same request would start from (200
// when a provider would be tried, 408 when none matches, 420 when only
// unhonoured fields keep them out, 400/420 for a request placement
// cannot take) with its reason, and the admin API's explanation (every
// candidate with its score or its reason for rejection) when placement
// ran. Nothing is created.
type consumerExplanation struct {
	Status csbmsg.Status `json:"status"`
	Reason string        `json:"reason"`
	*adminExplanation
}

func (h *Handler) serveConsumerExplain(w http.ResponseWriter, r *http.Request, owner string, cfg *ConsumerConfig) error {
	if err := acceptsJSON(r); err != nil {
		return err
	}
	// The create's Csb-Max-Price keeps providers out of placement, so the
	// dry run takes it too (and refuses a bad one as a create does).
	maxPrice, err := maxPriceHeader(r)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	c := &consumerCall{h: h, w: w, r: r}
	req, perr, err := c.parseBody()
	if err != nil {
		return err
	}
	if perr != nil {
		return writeExplanation(w, consumerExplanation{Status: perr.Status, Reason: perr.Reason})
	}
	if req.JobInfo != nil {
		return writeExplanation(w, consumerExplanation{Status: csbmsg.StatusSyntaxError, Reason: "a <CloudServiceRequest> with <job-info> acts on a job; explain takes a create request"})
	}
	a := h.app
	if req, err = a.ExpandForExplain(r.Context(), req); err != nil {
		// What a create answers (jobs.Manager.Create): the refusal's
		// status, else 400.
		var re *placement.RequestError
		if errors.As(err, &re) {
			return writeExplanation(w, consumerExplanation{Status: re.Status, Reason: re.Reason})
		}
		return writeExplanation(w, consumerExplanation{Status: csbmsg.StatusSyntaxError, Reason: "expanding the OVF link: " + err.Error()})
	}
	var d *placement.Decision
	if hdr := r.Header.Values("Csb-Provider"); len(hdr) > 0 {
		d, err = a.explainWith(narrowAccess(cfg.access(owner), hdr), req, maxPrice)
	} else {
		d, err = a.explainPlacement(owner, req, maxPrice)
	}
	if err != nil {
		var re *placement.RequestError
		if errors.As(err, &re) {
			return writeExplanation(w, consumerExplanation{Status: re.Status, Reason: re.Reason})
		}
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	out := consumerExplanation{Status: csbmsg.StatusOK, Reason: d.Summary()}
	if d.Chosen() == nil {
		// What a create answers when nothing matches (jobs' noMatch).
		out.Status, out.Reason = csbmsg.StatusUnableToFindResource, d.NoMatchReason()
		if f := d.UnsupportedFields(); len(f) > 0 {
			out.Status = csbmsg.StatusUnsupported
			out.Reason = "unsupported element " + contract.FieldList(f) + ": no provider's adapter honours it; " + out.Reason
		}
	}
	x := a.explanation(d)
	var price *float64
	if c := d.Chosen(); c != nil && c.HasPrice {
		p := c.Price
		price = &p
	}
	d.Release()
	// The quotas a create would meet (a consumer sees only its own).
	lease, err := leaseHeader(r)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	if qc, err := a.ExplainQuota(r.Context(), owner, req, price, lease); err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	} else if len(qc.Scopes) > 0 {
		x.Quota = adminQuotaOf(owner, qc, uint64(a.JobManager().LeaseFor(lease)/time.Second))
		if qc.Refusal != nil && out.Status == csbmsg.StatusOK {
			out.Status, out.Reason = csbmsg.StatusUnableToFindResource, qc.Refusal.Reason
		}
	}
	out.adminExplanation = &x
	return writeExplanation(w, out)
}

func writeExplanation(w http.ResponseWriter, e consumerExplanation) error {
	w.Header().Set("Csb-Status", strconv.Itoa(int(e.Status)))
	return writeJSON(w, e)
}

// explainWith is ExplainPlacement with the provider lists given (a
// request's Csb-Provider header narrows the user's) and a maximum price
// (nil: none).
func (a *App) explainWith(access *placement.Access, req *csbmsg.ServiceRequest, maxPrice *float64) (*placement.Decision, error) {
	v := a.consumerView
	if v == nil {
		return nil, errors.New("consumer interface not configured")
	}
	return v.placer.Place(req, placement.Options{Access: access, DryRun: true, IgnoreUnhonoured: v.cfg.UnhonouredFields == UnhonouredIgnore, MaxPrice: maxPrice})
}
