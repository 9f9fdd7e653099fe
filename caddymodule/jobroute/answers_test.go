package jobroute

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestAnswerHeadersStayOnTheRoute: what the provider answers reaches the
// consumer without a session of the broker's account (Set-Cookie) and
// without URLs that lead off the job's route. Location and
// Content-Location on the provider's origin, in any spelling (absolute,
// path-absolute, relative), become route paths when they are the job's
// endpoint or below it; above or beside it they are dropped, since the
// consumer would otherwise learn the provider's internal URL, or resolve
// "/csb/..." against the broker and land on its own paths. URLs naming
// a non-public address (the broker's admin endpoint on localhost, a
// provider's internal host) are dropped; other origins stay.
func TestAnswerHeadersStayOnTheRoute(t *testing.T) {
	h := &JobRoute{Prefix: "/csb/jobs/", logger: zap.NewNop(), app: &caddymodule.App{Providers: withPeerPolicies(t, &caddymodule.Provider{ID: "open"})}}
	for _, tc := range []struct{ location, want string }{
		{"http://127.0.0.1:9/apps/crm/orders/7", "/csb/jobs/J1/orders/7"},
		{"HTTP://127.0.0.1:9/apps/crm/orders/7?a=b#top", "/csb/jobs/J1/orders/7?a=b#top"},
		{"/apps/crm/login?next=%2Fapps%2Fcrm", "/csb/jobs/J1/login?next=%2Fapps%2Fcrm"},
		{"orders/8", "/csb/jobs/J1/orders/8"},
		{"/apps/crm", "/csb/jobs/J1"},
		{"/apps/crm/a%20b", "/csb/jobs/J1/a%20b"},
		{"/apps/crmx/a", ""},
		{"/csb/consumer/J1", ""},
		{"/csb/jobs/J2/x", ""},
		{"../../other", ""},
		{"http://127.0.0.1:9/admin", ""},
		{"https://127.0.0.1/apps/crm/x", ""},
		{"http://broker@127.0.0.1:9/apps/crm/x", ""},
		{"http://localhost:2019/config/", ""},
		{"http://10.0.0.5/x", ""},
		{"https://idp.example.com/authorize?client=crm", "https://idp.example.com/authorize?client=crm"},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/J1/page", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
		rest := "/page"
		setPath(r, rest)
		upstream, addr, dt, err := h.frontGeneric(r, jobs.Endpoint{ProviderID: "open", URL: "http://127.0.0.1:9/apps/crm/"})
		if err != nil {
			t.Fatal(err)
		}
		rt := newRouted("open", upstream, addr, dt)
		rt.answers = newAnswerMap(r, upstream, rest, "/csb/jobs/J1")
		provider := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			w.Header().Set("Location", tc.location)
			w.Header().Set("Content-Location", tc.location)
			w.Header().Add("Set-Cookie", "session=broker-account; Path=/")
			w.Header().Add("Set-Cookie", "csrf=x")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusFound)
			_, err := w.Write([]byte("moved"))
			return err
		})
		rec := httptest.NewRecorder()
		if err := h.proxy(rec, r, provider, rt); err != nil {
			t.Fatal(err)
		}
		hdr := rec.Result().Header
		for _, name := range []string{"Location", "Content-Location"} {
			got := hdr.Values(name)
			if tc.want == "" && len(got) != 0 || tc.want != "" && !slices.Equal(got, []string{tc.want}) {
				t.Errorf("%s %q: the consumer got %q, want %q", name, tc.location, got, tc.want)
			}
		}
		if got := hdr.Values("Set-Cookie"); len(got) != 0 {
			t.Errorf("%q: the provider's cookies reached the consumer: %q", tc.location, got)
		}
		if rec.Code != http.StatusFound || hdr.Get("Content-Type") != "text/plain" || rec.Body.String() != "moved" {
			t.Errorf("%q: the rest of the answer changed: %d %v %q", tc.location, rec.Code, hdr, rec.Body)
		}
	}
}

// TestAnswerMapBases: the provider path the route's root stands for is
// what the front put before the route path (aws and openstack rebase,
// cimi, cdmi and occi put it below the endpoint's directory, link below
// the endpoint), with the header form's route paths unprefixed; a front
// whose rewrite does not end in the route path maps nothing.
func TestAnswerMapBases(t *testing.T) {
	for _, tc := range []struct {
		providerPath, routePath, route, location, want string
	}{
		{"/v1/AUTH_p/c/o", "/c/o", "/csb/jobs/J1", "/v1/AUTH_p/c/o2", "/csb/jobs/J1/c/o2"},
		{"/c/o", "/c/o", "/csb/jobs/J1", "/c/o2", "/csb/jobs/J1/c/o2"},
		{"/svc/", "/", "/csb/jobs/J1", "/svc/x", "/csb/jobs/J1/x"},
		{"/", "/", "/csb/jobs/J1", "/x", "/csb/jobs/J1/x"},
		{"/svc/x", "/x", "", "/svc/y", "/y"},
		{"/svc/elsewhere", "/x", "/csb/jobs/J1", "/svc/y", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://cloud.example.org"+tc.providerPath, nil)
		m := newAnswerMap(r, r.URL, tc.routePath, tc.route)
		got, ok := m.mapURL(tc.location)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("%s for %s at %s: %q, want %q", tc.location, tc.routePath, tc.providerPath, got, tc.want)
		}
	}
}

// TestLinkHeadersStayOnTheRoute: the targets of a provider's Link header
// (RFC 8288: pagination, an OCCI entity's links) are URLs of its answer
// like Location: on the provider's origin they become route paths when
// they are the job's or below it; a link-value whose target (or anchor)
// leads off the route is dropped, the others stay, their parameters with
// them; what does not parse is dropped with everything after it.
func TestLinkHeadersStayOnTheRoute(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9/apps/crm/page", nil)
	m := newAnswerMap(r, &url.URL{Scheme: "http", Host: "127.0.0.1:9"}, "/page", "/csb/jobs/J1")
	for _, tc := range []struct{ link, want string }{
		{`</apps/crm/page?p=2>; rel="next"`, `</csb/jobs/J1/page?p=2>; rel="next"`},
		{`<http://127.0.0.1:9/apps/crm/a>; rel=self, <page?p=3>; rel="last"`, `</csb/jobs/J1/a>; rel=self, </csb/jobs/J1/page?p=3>; rel="last"`},
		{`</csb/consumer>; rel="x", </apps/crm/b>; rel="y"`, `</csb/jobs/J1/b>; rel="y"`},
		{`<http://localhost:2019/config/>; rel="x"`, ``},
		{`<https://docs.example.org/api>; rel="help"; title="a, b; c"`, `<https://docs.example.org/api>; rel="help"; title="a, b; c"`},
		{`</apps/crm/c>; rel="x"; anchor="/apps/crm/d"`, `</csb/jobs/J1/c>; rel="x"; anchor="/csb/jobs/J1/d"`},
		{`</apps/crm/c>; rel="x"; anchor="/admin"`, ``},
		{`</apps/crm/e>; rel="x", junk, </apps/crm/f>`, `</csb/jobs/J1/e>; rel="x"`},
	} {
		h := http.Header{"Link": {tc.link}}
		m.fix(h)
		got := strings.Join(h.Values("Link"), " | ")
		if got != tc.want {
			t.Errorf("Link %s: the consumer got %q, want %q", tc.link, got, tc.want)
		}
	}
	h := http.Header{"Link": {`</apps/crm/x>`}}
	(*answerMap)(nil).fix(h)
	if len(h.Values("Link")) != 0 {
		t.Errorf("nothing known to map onto: Link %q kept", h.Values("Link"))
	}
}

// TestProviderChallengeNotPassedOn: a provider asking for authentication
// refused the broker's credentials (the consumer's never reach it); its
// challenge would have the consumer's client send credentials to the
// broker's route. A final 401 or 407 is withheld, body and headers
// (those set before the proxy ran stay), flushes included, and the route
// answers 502 with the reason; the adapter is asked to renew its own
// credential after a 401. A challenge on any other answer is dropped.
func TestProviderChallengeNotPassedOn(t *testing.T) {
	h := &JobRoute{Prefix: "/csb/jobs/", logger: zap.NewNop(), app: &caddymodule.App{Providers: withPeerPolicies(t, &caddymodule.Provider{ID: "open"})}}
	for _, tc := range []struct {
		status  int
		want    int // 0: the provider's answer as it is
		renewed bool
	}{
		{http.StatusUnauthorized, http.StatusBadGateway, true},
		{http.StatusProxyAuthRequired, http.StatusBadGateway, false},
		{http.StatusOK, 0, false},
		{http.StatusForbidden, 0, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/J1/page", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
		setPath(r, "/page")
		upstream, addr, dt, err := h.frontGeneric(r, jobs.Endpoint{ProviderID: "open", URL: "http://127.0.0.1:9/apps/crm/"})
		if err != nil {
			t.Fatal(err)
		}
		rt := newRouted("open", upstream, addr, dt)
		rt.answers = newAnswerMap(r, upstream, "/page", "/csb/jobs/J1")
		renewed := false
		rt.reauth = func(context.Context, *http.Request) error { renewed = true; return nil }
		provider := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			w.Header().Set("WWW-Authenticate", `Basic realm="provider"`)
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Length", "7")
			w.WriteHeader(tc.status)
			if err := http.NewResponseController(w).Flush(); err != nil {
				return err
			}
			_, err := w.Write([]byte("answer!"))
			return err
		})
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Set-Before", "kept")
		err = h.proxy(rec, r, provider, rt)
		hdr := rec.Header()
		if hdr.Get("Www-Authenticate") != "" || hdr.Get("Proxy-Authenticate") != "" {
			t.Errorf("%d: the provider's challenge reached the consumer: %v", tc.status, hdr)
		}
		if renewed != tc.renewed {
			t.Errorf("%d: credential renewed %v, want %v", tc.status, renewed, tc.renewed)
		}
		if tc.want == 0 {
			if err != nil || rec.Code != tc.status || rec.Body.String() != "answer!" {
				t.Errorf("%d: %v %d %q, want the provider's answer", tc.status, err, rec.Code, rec.Body)
			}
			continue
		}
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != tc.want || !strings.Contains(he.Err.Error(), "provider open refused the broker's authentication") {
			t.Errorf("%d: %v, want HTTP %d naming the provider", tc.status, err, tc.want)
		}
		if rec.Flushed || rec.Body.Len() != 0 || hdr.Get("Content-Type") != "" || hdr.Get("Content-Length") != "" || hdr.Get("X-Set-Before") != "kept" {
			t.Errorf("%d: something of the withheld answer was sent (flushed %v, body %q, header %v)", tc.status, rec.Flushed, rec.Body, hdr)
		}
	}
}

// TestProviderAuthInfoNotPassedOn: the provider's Authentication-Info
// (its rspauth and nextnonce for the broker) does not reach the consumer
// next to the broker's own, which stays as the broker's Digest auth set
// it; without the broker's, the answer carries none.
func TestProviderAuthInfoNotPassedOn(t *testing.T) {
	h := &JobRoute{Prefix: "/csb/jobs/", logger: zap.NewNop(), app: &caddymodule.App{Providers: withPeerPolicies(t, &caddymodule.Provider{ID: "open"})}}
	for _, own := range []string{`rspauth="broker", nextnonce="ours"`, ""} {
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/J1/page", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
		setPath(r, "/page")
		upstream, addr, dt, err := h.frontGeneric(r, jobs.Endpoint{ProviderID: "open", URL: "http://127.0.0.1:9/apps/crm/"})
		if err != nil {
			t.Fatal(err)
		}
		rt := newRouted("open", upstream, addr, dt)
		rt.answers = newAnswerMap(r, upstream, "/page", "/csb/jobs/J1")
		provider := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			// As the reverse proxy copies the provider's headers: added.
			w.Header().Add("Authentication-Info", `rspauth="provider", nextnonce="theirs"`)
			w.Header().Add("Proxy-Authentication-Info", `nextnonce="proxy"`)
			w.WriteHeader(http.StatusOK)
			_, err := w.Write([]byte("answer!"))
			return err
		})
		rec := httptest.NewRecorder()
		if own != "" {
			rec.Header().Set("Authentication-Info", own)
		}
		if err := h.proxy(rec, r, provider, rt); err != nil {
			t.Fatal(err)
		}
		got := rec.Header().Values("Authentication-Info")
		want := []string{}
		if own != "" {
			want = []string{own}
		}
		if !slices.Equal(got, want) {
			t.Errorf("Authentication-Info %q, want %q", got, want)
		}
		if v := rec.Header().Values("Proxy-Authentication-Info"); len(v) != 0 {
			t.Errorf("Proxy-Authentication-Info %q reached the consumer", v)
		}
	}
}
