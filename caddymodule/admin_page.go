package caddymodule

// Pagination of the admin API's listings (/csb/jobs, /csb/catalog,
// /csb/costs, /csb/webhooks): ?limit=<n>&after=<cursor>. Each answer
// carries the cursor of the next page (JSON "next", XML attribute next)
// and a Link header with rel="next" (RFC 8288) naming the next page's
// URL, the query's other parameters kept; the last page has neither.

import (
	"net/http"
	"net/url"
	"strconv"
)

// pageParams reads ?limit= (def when absent, at most max) and ?after=.
func pageParams(q url.Values, def, max int) (limit int, after string, err error) {
	limit = def
	if l := q.Get("limit"); l != "" {
		n, perr := strconv.Atoi(l)
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
