package caddymodule

// The admin API's GET /csb/costs: what jobs cost, with totals.

import (
	"encoding/csv"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/quota"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/accept"
)

// adminCosts is the answer of GET /csb/costs.
type adminCosts struct {
	// Since and Until bound the costs counted (Since zero: from the
	// start).
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until"`
	// Total is what every job listed cost in [since, until).
	Total     float64          `json:"total"`
	Owners    []adminCostTotal `json:"owners"`
	Providers []adminCostTotal `json:"providers"`
	Jobs      []adminJobCost   `json:"jobs"`
	// Next is the cursor of the next page of jobs (its after=), absent
	// on the last page: the totals are those of this page's jobs, and a
	// report over more jobs than a page adds up its pages.
	Next string `json:"next,omitempty"`
}

// costsPageSize is the default number of jobs a page of /csb/costs
// reads (jobs without a cost are read but not listed).
const costsPageSize = jobs.MaxPageSize

// adminCostTotal is a total by owner or by provider (a job that moved
// counts at each provider that held it, for its part there).
type adminCostTotal struct {
	ID    string  `json:"id"`
	Jobs  int     `json:"jobs"`
	Total float64 `json:"total"`
}

// adminJobCost is one job's cost.
type adminJobCost struct {
	ID         string      `json:"id"`
	Owner      string      `json:"owner"`
	ProviderID string      `json:"provider_id"`
	State      jobs.Status `json:"state"`
	Unit       quota.Unit  `json:"unit"`
	Units      float64     `json:"units"`
	Price      float64     `json:"price"`
	// Rate is the cost per hour now (or at the end).
	Rate    float64   `json:"rate"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	Final   bool      `json:"final"`
	// Cost is what the job cost in [since, until); Amount what it cost
	// in all. With ?provider=, both are the job's parts at those
	// providers.
	Cost   float64 `json:"cost"`
	Amount float64 `json:"amount"`
	// Parts split Cost and Amount by the providers that held the job, in
	// the order it came to them: one part unless it moved (with
	// ?provider=, those providers' only).
	Parts []adminCostPart `json:"parts"`
}

// adminCostPart is a job's part at one provider.
type adminCostPart struct {
	ProviderID string `json:"provider_id"`
	// Started is when the job came to the provider; Ended when it last
	// left it or ended there (absent while it is there and accrues).
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	Cost    float64   `json:"cost"`
	Amount  float64   `json:"amount"`
}

// costsCSVHeader is the first line of the CSV form: one row per job and
// provider that held it (row "job": a job that moved has one per part,
// each under its provider, with that stay's start and end; the price and
// rate only on the current provider's), then one per owner ("owner"), per
// provider ("provider") and the grand total ("total").
var costsCSVHeader = []string{"row", "owner", "provider_id", "job_id", "state", "unit", "units", "price", "rate", "started", "ended", "final", "cost"}

func (api *AdminAPI) serveCosts(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, http.MethodGet)
	}
	asCSV, err := costsFormat(r)
	if err != nil {
		return err
	}
	_, e, err := api.running()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	now := time.Now()
	since, err := costsSince(q.Get("since"), now)
	if err != nil {
		return err
	}
	if q.Has("since") && q.Get("since") == "" {
		// ?since= without a value is a window left unset, not "from
		// the start".
		return adminError(http.StatusBadRequest, "since: no value (leave the parameter out for every cost since the start)")
	}
	limit, after, err := pageParams(q, costsPageSize, jobs.MaxPageSize)
	if err != nil {
		return err
	}
	// A job that moved away from a provider is no longer listed under it
	// (the listing knows a job's current provider only), but its part
	// there is that provider's: with ?provider=, the page reads the jobs
	// of every provider and reports each one's part at those providers
	// (the filter takes a list, as the catalogue's does).
	providers, err := listParam(q, "provider")
	if err != nil {
		return err
	}
	owner, err := oneParam(q, "owner") // the job index matches one owner
	if err != nil {
		return err
	}
	page, err := e.jobsPage(w, r, jobs.PageQuery{Owner: owner, After: after, Limit: limit})
	if err != nil {
		return err
	}
	list := page.Jobs
	out := adminCosts{Since: since, Until: now, Owners: []adminCostTotal{}, Providers: []adminCostTotal{}, Jobs: []adminJobCost{}, Next: page.Next}
	owners, byProvider := map[string]*adminCostTotal{}, map[string]*adminCostTotal{}
	add := func(m map[string]*adminCostTotal, id string, v float64) {
		e := m[id]
		if e == nil {
			e = &adminCostTotal{ID: id}
			m[id] = e
		}
		e.Jobs++
		e.Total += v
	}
	for _, j := range list {
		c := j.Cost
		if c == nil {
			continue
		}
		jc := adminJobCost{ID: j.ID, Owner: j.Owner, ProviderID: c.ProviderID, State: j.Status, Unit: c.Unit, Units: c.Units,
			Price: c.Price, Rate: c.Rate(), Started: c.Started, Ended: c.Until, Final: c.Final(), Parts: []adminCostPart{}}
		if len(providers) == 0 {
			jc.Amount = c.Amount(now)
		}
		// Each provider's part where it lies in the window: a move
		// splits the window at the moment it happened.
		for _, p := range c.Parts(since, now, now) {
			ended := !p.To.IsZero()
			if len(providers) > 0 && !slices.Contains(providers, p.ProviderID) || ended && p.To.Before(since) || p.ProviderID != c.ProviderID && p.Amount == 0 {
				continue // another provider's, before the window, or a move undone at once
			}
			if since.IsZero() {
				p.Cost = p.Amount
			}
			jc.Parts = append(jc.Parts, adminCostPart{ProviderID: p.ProviderID, Started: p.From, Ended: p.To, Cost: p.Cost, Amount: p.Amount})
			jc.Cost += p.Cost
			if len(providers) > 0 {
				jc.Amount += p.Amount
			}
			add(byProvider, p.ProviderID, p.Cost)
		}
		if len(jc.Parts) == 0 {
			continue
		}
		out.Jobs = append(out.Jobs, jc)
		out.Total += jc.Cost
		add(owners, j.Owner, jc.Cost)
	}
	slices.SortFunc(out.Jobs, func(x, y adminJobCost) int {
		if c := x.Started.Compare(y.Started); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	for _, t := range []struct {
		m   map[string]*adminCostTotal
		dst *[]adminCostTotal
	}{{owners, &out.Owners}, {byProvider, &out.Providers}} {
		for _, e := range t.m {
			*t.dst = append(*t.dst, *e)
		}
		slices.SortFunc(*t.dst, func(x, y adminCostTotal) int { return strings.Compare(x.ID, y.ID) })
	}
	if !asCSV {
		return writeJSON(w, out)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	return writeCostsCSV(w, out)
}

// writeCostsCSV writes the CSV form of a costs report. The text cells
// (owner, provider id, job id, state, unit) pass through csvText: an
// owner is a consumer's user id and a provider id may come from a
// provider's own notification, so either may start with "=" and open as
// a formula in the spreadsheet the report is read in.
//
// The costs are written to the millionth (quota.Money), and the owner,
// provider and total rows are the sums of the job rows as written, not
// the report's totals rounded: a sum of rounded costs is not the rounded
// sum (three rows of 0.333333 under a total of 1), and the report must
// add up in that spreadsheet.
func writeCostsCSV(w io.Writer, out adminCosts) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(costsCSVHeader)
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	// In millionths, so that the sums are exact.
	micro := func(v float64) int64 { return int64(math.Round(v * 1e6)) }
	money := func(n int64) string { return quota.Money(float64(n) / 1e6) }
	owners, providers := map[string]int64{}, map[string]int64{}
	var total int64
	for _, j := range out.Jobs {
		row := func(p adminCostPart, price, rate string, final bool) {
			c := micro(p.Cost)
			owners[j.Owner] += c
			providers[p.ProviderID] += c
			total += c
			_ = cw.Write([]string{"job", csvText(j.Owner), csvText(p.ProviderID), csvText(j.ID), csvText(string(j.State)), csvText(string(j.Unit)), strconv.FormatFloat(j.Units, 'f', -1, 64),
				price, rate, tm(p.Started), tm(p.Ended), strconv.FormatBool(final), money(c)})
		}
		if len(j.Parts) == 0 {
			row(adminCostPart{ProviderID: j.ProviderID, Started: j.Started, Ended: j.Ended, Cost: j.Cost}, quota.Money(j.Price), quota.Money(j.Rate), j.Final)
			continue
		}
		// One row per provider's part, so that the job rows of a
		// provider add up to its total.
		for _, p := range j.Parts {
			if p.ProviderID == j.ProviderID {
				row(p, quota.Money(j.Price), quota.Money(j.Rate), j.Final)
			} else {
				row(p, "", "", true) // a provider the job left: its part is final
			}
		}
	}
	for _, o := range out.Owners {
		_ = cw.Write([]string{"owner", csvText(o.ID), "", "", "", "", "", "", "", "", "", "", money(owners[o.ID])})
	}
	for _, p := range out.Providers {
		_ = cw.Write([]string{"provider", "", csvText(p.ID), "", "", "", "", "", "", "", "", "", money(providers[p.ID])})
	}
	_ = cw.Write([]string{"total", "", "", "", "", "", "", "", "", "", "", "", money(total)})
	cw.Flush()
	return cw.Error()
}

// costsSince reads ?since= (v, already unescaped): an RFC 3339 time or a
// duration back from now; zero when v is empty. A query's "+" is
// unescaped to a space, so the offset of a time east of UTC
// (2026-12-01T00:00:00+01:00, not written %2B01:00) arrives as " 01:00":
// a space where the offset's sign goes is read as the "+" it was.
//
// A time after now is answered 400: the window would be empty, and the
// report's total of 0 would read as nothing spent.
func costsSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if i := strings.LastIndexByte(v, ' '); err != nil && i > 0 && strings.Count(v, " ") == 1 && strings.Contains(v[:i], "T") {
		t, err = time.Parse(time.RFC3339, v[:i]+"+"+v[i+1:])
	}
	if err == nil {
		if t.After(now) {
			return time.Time{}, adminError(http.StatusBadRequest, "since %q: after now (%s): the window would be empty", v, now.UTC().Format(time.RFC3339))
		}
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, adminError(http.StatusBadRequest, "since %q: want an RFC 3339 time (2026-12-01T00:00:00Z) or a duration back from now (24h)", v)
}

// csvText makes a text cell safe to open in a spreadsheet: a value that
// starts with a character that makes a formula ("=", "+", "-", "@", a tab
// or a carriage return) gets a leading "'" (OWASP's advice for CSV
// injection), which spreadsheets show as text. encoding/csv quotes
// commas, quotes and newlines.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// costsFormat picks JSON or CSV: ?format=json|csv, else the Accept header
// (text/csv, application/json, */*; 406 when it admits neither).
func costsFormat(r *http.Request) (csvOut bool, err error) {
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, adminError(http.StatusBadRequest, "format %q: want json or csv", f)
	}
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return false, nil
	}
	bestQ, best := -1.0, false
	for _, rg := range accept.Ranges(values) {
		var isCSV bool
		switch rg.Type {
		case "text/csv":
			isCSV = true
		case "application/json", "*/*", "application/*":
		default:
			continue
		}
		if rg.Q > 0 && (rg.Q > bestQ || rg.Q == bestQ && isCSV) {
			bestQ, best = rg.Q, isCSV
		}
	}
	if bestQ < 0 {
		return false, adminError(http.StatusNotAcceptable, "the answer is application/json or text/csv")
	}
	return best, nil
}
