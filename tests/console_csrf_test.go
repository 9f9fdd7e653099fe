package tests

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestConsoleCSRF: the console's state-changing POSTs (create, renew,
// remove) are refused with 403, and change nothing, when the form's CSRF
// token is missing, malformed, tampered with or another user's, or when
// the browser says the request comes from another site (Origin,
// Sec-Fetch-Site), even with a valid token. The same requests with the
// right token from the console's own origin succeed, so the refusals are
// the CSRF checks and nothing else. The users authenticate with the real
// digest_auth.
func TestConsoleCSRF(t *testing.T) {
	s := consoleStart(t)
	alice, bob := s.client("alice"), s.client("bob")
	console := s.base + "/console"
	origin := s.base

	aliceTok := consoleToken(t, alice, console)
	bobTok := consoleToken(t, bob, console)
	if aliceTok == bobTok {
		t.Fatal("alice and bob got the same token")
	}

	// A job for alice, through the form.
	form := url.Values{"kind": {"iaas"}, "cores": {"1"}, "memory": {"1"}, csrfFieldName: {aliceTok}}
	st, loc, body := consolePost(t, alice, console+"/new", form, map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-origin"})
	if st != http.StatusSeeOther {
		t.Fatalf("create through the form: %d %s\n%s", st, body, s.p.Log())
	}
	m := regexp.MustCompile(`job=([^&]+)`).FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("create redirected to %q", loc)
	}
	id, _ := url.QueryUnescape(m[1])
	job := consoleWaitJob(t, s, id, "success")

	raw, err := base64.RawURLEncoding.DecodeString(aliceTok)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	tampered := base64.RawURLEncoding.EncodeToString(raw)

	attacks := []struct {
		name  string
		token string
		hdr   map[string]string
	}{
		{"no token", "", nil},
		{"malformed token", "not-a-token", nil},
		{"tampered token", tampered, nil},
		{"bob's token", bobTok, nil},
		{"cross-site origin", aliceTok, map[string]string{"Origin": "http://evil.example"}},
		{"opaque origin", aliceTok, map[string]string{"Origin": "null"}},
		{"origin on another port", aliceTok, map[string]string{"Origin": "http://127.0.0.1:1"}},
		{"cross-site fetch", aliceTok, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site fetch", aliceTok, map[string]string{"Sec-Fetch-Site": "same-site"}},
	}
	before := consoleOwnedJobs(t, s, "alice")
	for _, a := range attacks {
		for _, action := range []string{"/jobs/" + id + "/renew", "/jobs/" + id + "/remove", "/new"} {
			f := url.Values{"kind": {"iaas"}, "cores": {"1"}}
			if a.token != "" {
				f.Set(csrfFieldName, a.token)
			}
			st, _, body := consolePost(t, alice, console+action, f, a.hdr)
			if st != http.StatusForbidden {
				t.Errorf("%s on %s: HTTP %d, want 403\n%s", a.name, action, st, body)
			}
		}
	}
	after := s.job(t, id)
	if after.Status != "success" || !after.Expires.Equal(job.Expires) {
		t.Errorf("the refused requests changed the job: %+v, was %+v", after, job)
	}
	if n := consoleOwnedJobs(t, s, "alice"); n != before {
		t.Errorf("the refused creates made jobs: alice has %d, had %d", n, before)
	}

	// bob with his own valid token cannot touch alice's job.
	st, _, body = consolePost(t, bob, console+"/jobs/"+id+"/remove", url.Values{csrfFieldName: {bobTok}}, map[string]string{"Origin": origin})
	if st != http.StatusNotFound || s.job(t, id).Status != "success" {
		t.Errorf("bob removing alice's job: HTTP %d %s; job %s", st, body, s.job(t, id).Status)
	}

	// The same POST, properly made, works.
	st, loc, body = consolePost(t, alice, console+"/jobs/"+id+"/remove", url.Values{csrfFieldName: {aliceTok}},
		map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-origin"})
	if st != http.StatusSeeOther || !strings.Contains(loc, "done=removed") {
		t.Fatalf("remove with a valid token: HTTP %d %q %s", st, loc, body)
	}
	if j := s.job(t, id); j.Status != "removed" {
		t.Errorf("after the valid remove: %s", j.Status)
	}
	// GET never changes anything and needs no token.
	if st, _, _ := consoleGet(t, alice, console+"/jobs/"+id+"/remove"); st != http.StatusMethodNotAllowed {
		t.Errorf("GET on the remove action: HTTP %d, want 405", st)
	}
}

// csrfFieldName is the console's CSRF form field.
const csrfFieldName = "csrf_token"

var consoleTokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// consoleToken loads the console's explain page (its submit form has a
// token) and returns the CSRF token of its forms.
func consoleToken(t *testing.T, c *http.Client, console string) string {
	t.Helper()
	st, _, body := consoleGet(t, c, console+"/new?kind=iaas&cores=1&explain=1")
	if st != http.StatusOK {
		t.Fatalf("GET the explain page: %d %s", st, body)
	}
	m := consoleTokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

func consoleGet(t *testing.T, c *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

func consolePost(t *testing.T, c *http.Client, u string, form url.Values, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

// consoleOwnedJobs counts owner's jobs in the admin API's listing.
func consoleOwnedJobs(t *testing.T, s *consoleSite, owner string) int {
	t.Helper()
	st, _, body := adminDo(t, s.admin, http.MethodGet, "/csb/jobs?owner="+url.QueryEscape(owner), "application/json", "", nil)
	if st != http.StatusOK {
		t.Fatalf("admin jobs: %d %s", st, body)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(body, &list); err != nil {
		var wrapped struct {
			Jobs []json.RawMessage `json:"jobs"`
		}
		if err := json.Unmarshal(body, &wrapped); err != nil {
			t.Fatalf("admin jobs: %v\n%s", err, body)
		}
		list = wrapped.Jobs
	}
	return len(list)
}
