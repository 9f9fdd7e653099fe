package caddymodule

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// adminStatus returns the HTTP status of an admin handler's error (200
// for none).
func adminStatus(err error) int {
	var ae caddy.APIError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &ae):
		return ae.HTTPStatus
	}
	return 0
}

// TestAdminFiltersOneValueOrList: docs/operations.md says a filter takes
// several values, repeated or separated by commas. /csb/jobs matched
// ?owner=alice,bob and ?provider=a,b as the one owner "alice,bob" and
// the one provider "a,b" (count 0: "nobody has jobs"), took only the
// first of ?owner=alice&owner=bob, and /csb/costs did the same with
// owner and provider. The job index matches one owner and one provider:
// such a query is answered 400, saying so, and /csb/costs, which
// filters providers itself, takes a list of them.
func TestAdminFiltersOneValueOrList(t *testing.T) {
	api, _ := costsMoveAPI(t)
	for _, q := range []string{"owner=alice,bob", "owner=alice&owner=bob", "provider=a,b", "provider=a&provider=b", "kind=iaas,paas"} {
		w := httptest.NewRecorder()
		err := api.serveJobs(w, httptest.NewRequest(http.MethodGet, "/csb/jobs?"+q, nil))
		if adminStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "takes one value") {
			t.Errorf("jobs?%s: %v %s, want 400 (one value)", q, err, w.Body.String())
		}
	}
	for q, want := range map[string]int{"owner=alice": 1, "owner=+alice+": 1, "provider=a": 1, "provider=b": 1, "provider=nobody": 0} {
		w := httptest.NewRecorder()
		err := api.serveJobs(w, httptest.NewRequest(http.MethodGet, "/csb/jobs?"+q, nil))
		if err != nil || !strings.Contains(w.Body.String(), `"count": `+string(rune('0'+want))+",") {
			t.Errorf("jobs?%s: %v %s, want count %d", q, err, w.Body.String(), want)
		}
	}
	for _, q := range []string{"owner=alice,bob", "owner=alice&owner=bob"} {
		err := api.serveCosts(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/csb/costs?"+q, nil))
		if adminStatus(err) != http.StatusBadRequest {
			t.Errorf("costs?%s: %v, want 400", q, err)
		}
	}
	// alice's job cost 2 at a and 6 at b, bob's 2 at a.
	for q, total := range map[string]float64{"provider=a,b": 10, "provider=a&provider=b": 10, "provider=b,nobody": 6} {
		if out := costsGet(t, api, q); !costsNear(out.Total, total) || len(out.Jobs) == 0 {
			t.Errorf("costs?%s: total %v over %d jobs, want %v", q, out.Total, len(out.Jobs), total)
		}
	}
	// The catalogue's status and kind take one value too (its provider
	// filter takes a list).
	for _, q := range []string{"status=active,deactivated", "kind=iaas&kind=saas"} {
		err := api.serveCatalog(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/csb/catalog?"+q, nil))
		if adminStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "takes one value") {
			t.Errorf("catalog?%s: %v, want 400 (one value)", q, err)
		}
	}
}

// TestAdminStateFiltersChecked: /csb/jobs answers a state it does not
// know with 400, but /csb/subscriptions and /csb/webhooks matched it
// against nothing: ?state=retry (for retrying) or ?state=fail said
// "none", the answer the alert on it wants to hear. They answer 400
// too, before reading any state (the engine here has none to read).
func TestAdminStateFiltersChecked(t *testing.T) {
	e := new(engine)
	app := &App{engine: e, live: new(atomic.Pointer[engine])}
	app.live.Store(e)
	api := &AdminAPI{app: app}
	for _, c := range []struct {
		path  string
		serve func(http.ResponseWriter, *http.Request) error
	}{
		{"/csb/subscriptions?state=active,retry", api.serveSubscriptions},
		{"/csb/webhooks?state=fail", api.serveWebhooks},
	} {
		err := c.serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, c.path, nil))
		if adminStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "want ") {
			t.Errorf("%s: %v, want 400 naming the states", c.path, err)
		}
	}
}
