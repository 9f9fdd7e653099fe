package caddymodule

// Pagination of the admin API's listings (/csb/jobs, /csb/catalog,
// /csb/costs, /csb/webhooks): ?limit=<n>&after=<cursor>. Each answer
// carries the cursor of the next page (JSON "next", XML attribute next)
// and a Link header with rel="next" (RFC 8288) naming the next page's
// URL, the query's other parameters kept; the last page has neither.

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// pageParams reads ?limit= (def when absent, at most max) and ?after=.
// A limit too large for an int is lowered to max as any other larger
// one is (docs/operations.md), not refused as malformed.
func pageParams(q url.Values, def, max int) (limit int, after string, err error) {
	limit = def
	if l := q.Get("limit"); l != "" {
		n, perr := strconv.Atoi(l)
		if errors.Is(perr, strconv.ErrRange) && !strings.HasPrefix(l, "-") {
			n, perr = max, nil
		}
		if perr != nil || n < 1 {
			return 0, "", adminError(http.StatusBadRequest, "limit %q: want a page size from 1 to %d", l, max)
		}
		limit = min(n, max)
	}
	return limit, q.Get("after"), nil
}

// setNextLink sets the Link header naming the next page, when there is
// one: the request's URL with after=next.
func setNextLink(w http.ResponseWriter, r *http.Request, next string) {
	if next == "" {
		return
	}
	q := r.URL.Query()
	q.Set("after", next)
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	w.Header().Add("Link", "<"+u.String()+`>; rel="next"`)
}

// badCursor is the answer to an after= that no page of the listing gave.
func badCursor(after string) error {
	return adminError(http.StatusBadRequest, "after %q: not a cursor this listing gave (use the next of the previous page)", after)
}

// jobsPage reads the page of the job listing that q asks for (/csb/jobs,
// /csb/costs) and sets the Link header to the next page.
func (e *engine) jobsPage(w http.ResponseWriter, r *http.Request, q jobs.PageQuery) (*jobs.Page, error) {
	page, err := e.consumer.jobs.ListPage(r.Context(), q)
	if errors.Is(err, jobs.ErrBadCursor) {
		return nil, badCursor(q.After)
	}
	if err != nil {
		return nil, adminError(http.StatusInternalServerError, "listing jobs: %v", err)
	}
	setNextLink(w, r, page.Next)
	return page, nil
}
