package csbsandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
)

func TestSandboxBrokerAuthParse(t *testing.T) {
	s := new(Sandbox)
	err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb_sandbox cloud-a {\n broker https://localhost:8443/csb/publish\n broker_auth digest cloud-a {env.CLOUD_A_PW}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if a := s.BrokerAuth; a == nil || a.Scheme != "digest" || a.Username != "cloud-a" || a.Password != "{env.CLOUD_A_PW}" {
		t.Fatalf("broker_auth parsed as %+v", s.BrokerAuth)
	}
	parsetest.CheckErrors(t, []parsetest.Case{
		{"no args", "csb_sandbox {\n broker_auth\n}", "want broker_auth digest|basic <user> <password>"},
		{"no password", "csb_sandbox {\n broker_auth digest cloud-a\n}", "want broker_auth digest|basic <user> <password>"},
		{"too many", "csb_sandbox {\n broker_auth basic a b c\n}", "want broker_auth digest|basic <user> <password>"},
		{"bearer", "csb_sandbox {\n broker_auth bearer a b\n}", `broker_auth scheme "bearer": want digest or basic`},
		{"empty user", "csb_sandbox {\n broker_auth digest \"\" pw\n}", "broker_auth needs a user name"},
		{"twice", "csb_sandbox {\n broker_auth digest a b\n broker_auth basic a b\n}", "broker_auth given twice"},
	}, parsetest.Unmarshal[Sandbox]())
}

func TestSandboxBrokerAuthValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Sandbox
		want string
	}{
		{"no broker", Sandbox{BrokerAuth: &SandboxBrokerAuth{Scheme: "digest", Username: "a"}}, "broker_auth without broker"},
		{"scheme", Sandbox{Broker: "https://b/", BrokerAuth: &SandboxBrokerAuth{Scheme: "ntlm", Username: "a"}}, `scheme "ntlm"`},
		{"user", Sandbox{Broker: "https://b/", BrokerAuth: &SandboxBrokerAuth{Scheme: "basic"}}, "needs a user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.CIMIPath, tc.s.CDMIPath, tc.s.SubscribePath = "/cimi", "/cdmi", "/csb/subscribe"
			if err := tc.s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// digestBroker is a broker double: a publish endpoint behind Digest
// authentication (realm csb-publish, user cloud-a, password pw) that
// reports every request carrying credentials on seen and acknowledges
// the authenticated notifications.
type digestBroker struct {
	srv  *httptest.Server
	seen chan seenRequest
}

type seenRequest struct {
	user string // authenticated user, "" if refused
	alg  string
	msg  *csbmsg.Publish
}

func newDigestBroker(t *testing.T) *digestBroker {
	t.Helper()
	users := digest.NewUsers("csb-publish")
	for _, alg := range []digest.Algorithm{digest.MD5, digest.SHA256} {
		if err := users.Add("cloud-a", alg, digest.HA1(alg, "cloud-a", "csb-publish", "pw")); err != nil {
			t.Fatal(err)
		}
	}
	nonces, err := digest.NewNonces([]byte("0123456789abcdef"), "csb-publish")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := digest.NewServer(digest.ServerConfig{Realm: "csb-publish", Algorithms: []digest.Algorithm{digest.MD5, digest.SHA256},
		Nonces: nonces, Replay: digest.NewReplayCache(0, 0), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	b := &digestBroker{seen: make(chan seenRequest, 64)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		res := ds.Authenticate(digest.Request{Method: r.Method, URI: r.RequestURI, Authorization: authz})
		if !res.OK {
			if authz != "" {
				b.report(seenRequest{})
			}
			for _, c := range ds.Challenges(res.Stale) {
				w.Header().Add("WWW-Authenticate", c)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		data, _ := io.ReadAll(r.Body)
		msg, err := csbmsg.ParsePublish(data, csbmsg.Options{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.report(seenRequest{user: res.Username, alg: res.Algorithm.String(), msg: msg})
		out, _ := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Response: &csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: "OK"}})
		w.Header().Set("Content-Type", csbmsg.PublishMediaType)
		_, _ = w.Write(out)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *digestBroker) report(s seenRequest) {
	select {
	case b.seen <- s:
	default:
	}
}

func (b *digestBroker) next(t *testing.T) seenRequest {
	t.Helper()
	select {
	case s := <-b.seen:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox sent no notification with credentials")
		return seenRequest{}
	}
}

// TestSandboxNotifiesWithDigest: a sandbox with broker_auth digest gets
// its push notifications through a Digest-protected publish endpoint,
// with the strongest algorithm offered (SHA-256 after MD5); with a wrong
// password it is refused.
func TestSandboxNotifiesWithDigest(t *testing.T) {
	b := newDigestBroker(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	t.Setenv("CSB_TEST_SANDBOX_PW", "pw")
	s := &Sandbox{ID: "auth-test", Broker: b.srv.URL + "/csb/publish", PushID: "cloud-a-push", Price: 0.02,
		BrokerAuth: &SandboxBrokerAuth{Scheme: "digest", Username: "cloud-a", Password: "{env.CSB_TEST_SANDBOX_PW}"}}
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	got := b.next(t)
	cleanupWithin(t, s)
	if got.user != "cloud-a" || got.alg != "SHA-256" {
		t.Fatalf("notification authenticated as %q with %q, want cloud-a with SHA-256", got.user, got.alg)
	}
	n := got.msg.Notification
	if n == nil || n.ID != "cloud-a-push" || n.SeqNumber != 1 || n.Label != "price:0.02" {
		t.Fatalf("notification %+v", n)
	}

	bad := &Sandbox{ID: "auth-test-bad", Broker: b.srv.URL + "/csb/publish", PushID: "cloud-a-push",
		BrokerAuth: &SandboxBrokerAuth{Scheme: "digest", Username: "cloud-a", Password: "wrong"}}
	if err := bad.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	got = b.next(t)
	cleanupWithin(t, bad)
	if got.user != "" {
		t.Fatalf("a wrong password got in as %q", got.user)
	}
}

// TestSandboxNotifiesWithBasic: broker_auth basic sends the credentials
// with every notification, to the broker's host only.
func TestSandboxNotifiesWithBasic(t *testing.T) {
	got := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		if ok {
			select {
			case got <- user + ":" + pw:
			default:
			}
		}
		out, _ := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Response: &csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: "OK"}})
		w.Header().Set("Content-Type", csbmsg.PublishMediaType)
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	s := &Sandbox{ID: "basic-test", Broker: srv.URL + "/csb/publish", PushID: "p",
		BrokerAuth: &SandboxBrokerAuth{Scheme: "basic", Username: "cloud-b", Password: "s3cret"}}
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer cleanupWithin(t, s)
	select {
	case c := <-got:
		if c != "cloud-b:s3cret" {
			t.Fatalf("basic credentials %q", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification with Basic credentials")
	}
}

// TestSandboxFaultStatuses: error_rate and fail_after each answer with
// their own status, from the Caddyfile through Provision to the
// sandbox's CIMI API.
func TestSandboxFaultStatuses(t *testing.T) {
	s := new(Sandbox)
	err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb_sandbox fault-statuses {\n error_rate 1 503\n fail_after 2 429\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Faults; f == nil || f.ErrorRateStatus != 503 || f.FailAfterStatus != 429 {
		t.Fatalf("faults parsed as %+v", s.Faults)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer cleanupWithin(t, s)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 3 {
		rec := httptest.NewRecorder()
		if err := s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cimi/", nil), nil); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Code)
	}
	if got[0] != 503 || got[1] != 503 || got[2] != 429 {
		t.Fatalf("statuses %v, want [503 503 429]: error_rate's before fail_after's threshold, fail_after's after", got)
	}

	for _, tc := range []struct {
		name string
		f    SandboxFaults
		want string
	}{
		{"error_rate_status", SandboxFaults{ErrorRate: 0.5, ErrorRateStatus: 200}, "error_rate_status 200 must be 400-599"},
		{"fail_after_status", SandboxFaults{FailAfter: 1, FailAfterStatus: 600}, "fail_after_status 600 must be 400-599"},
	} {
		v := Sandbox{CIMIPath: "/cimi", CDMIPath: "/cdmi", SubscribePath: "/csb/subscribe", Faults: &tc.f}
		if err := v.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
