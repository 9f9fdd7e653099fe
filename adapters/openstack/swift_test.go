package openstack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestMain shares one real Swift between the tests of this package.
func TestMain(m *testing.M) { os.Exit(swiftpeer.Main(m)) }

func s(v string) *string { return &v }

// swiftAPI calls the real Swift directly with its own token, to check what
// the adapter did without going through it.
type swiftAPI struct {
	t     *testing.T
	sw    *swiftpeer.Swift
	token string
}

func newSwiftAPI(t *testing.T, sw *swiftpeer.Swift) *swiftAPI {
	tok, _, err := sw.Auth(context.Background(), swiftpeer.User, swiftpeer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &swiftAPI{t: t, sw: sw, token: tok}
}

func (s *swiftAPI) do(method, path, body string, hdr map[string]string) (*http.Response, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.sw.StorageURL+path, strings.NewReader(body))
	req.Header.Set("X-Auth-Token", s.token)
	// Swift answers HEAD on containers with a stray chunked body; do not
	// reuse the connection after it.
	req.Close = method == http.MethodHead
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func tempAuthAdapter(t *testing.T, sw *swiftpeer.Swift) *Adapter {
	t.Helper()
	a, err := New(Config{TempAuthURL: sw.AuthURL, TempAuthUser: swiftpeer.User, TempAuthKey: swiftpeer.Key})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSwiftLifecycle brokers a DSaaS request to the real Swift: the
// container and the object with its value, type and metadata are created
// (checked through Swift's API and its swift CLI), read back, updated and
// removed.
func TestSwiftLifecycle(t *testing.T) {
	sw := swiftpeer.Shared(t)
	api := newSwiftAPI(t, sw)
	a := tempAuthAdapter(t, sw)
	ctx := context.Background()

	req := &contract.Request{JobID: "job-life", Owner: "alice", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{Metadata: s(`{"project":"apollo"}`)},
		DataObject: &csbmsg.DataObject{
			ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("hello.txt")},
			Value:      s("Hello, Swift!"),
			Mimetype:   s("text/plain"),
			Metadata:   s("color=blue; Owner=alice")},
		DomainObject: &csbmsg.DomainObject{},
	}}}
	res, err := a.Provision(ctx, req)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	if res.State != contract.StateReady {
		t.Fatalf("state %s", res.State)
	}
	const c = "csb-job-life"
	if res.Native[nativeContainer] != c || res.Native[nativeObject] != "hello.txt" {
		t.Fatalf("native %v", res.Native)
	}
	if want := sw.StorageURL + "/" + c + "/hello.txt"; res.URI != want {
		t.Fatalf("URI %q, want %q", res.URI, want)
	}
	if res.Endpoint != sw.StorageURL {
		t.Fatalf("endpoint %q, want %q", res.Endpoint, sw.StorageURL)
	}

	// Swift's own API sees the container and the object.
	resp, _ := api.do("HEAD", "/"+c, "", nil)
	if resp.StatusCode != 204 || resp.Header.Get("X-Container-Meta-Project") != "apollo" {
		t.Fatalf("container: %s %v", resp.Status, resp.Header)
	}
	resp, body := api.do("GET", "/"+c+"/hello.txt", "", nil)
	if resp.StatusCode != 200 || body != "Hello, Swift!" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		resp.Header.Get("X-Object-Meta-Color") != "blue" || resp.Header.Get("X-Object-Meta-Owner") != "alice" {
		t.Fatalf("object: %s %q %v", resp.Status, body, resp.Header)
	}
	// And so does the swift CLI.
	out, err := sw.CLI(ctx, "download", c, "hello.txt", "-o", "-")
	if err != nil || out != "Hello, Swift!" {
		t.Fatalf("swift download: %q %v", out, err)
	}
	out, err = sw.CLI(ctx, "stat", c, "hello.txt")
	if err != nil || !strings.Contains(out, "Meta Color: blue") {
		t.Fatalf("swift stat: %q %v", out, err)
	}

	// The grant reports what Swift holds.
	g := res.Granted.DSaaS
	if g == nil || g.DataObject == nil || g.ContainerObject == nil || g.DomainObject == nil {
		t.Fatalf("grant %+v", g)
	}
	if *g.DataObject.Metadata != `{"color":"blue","owner":"alice"}` || *g.DataObject.Status != "available" ||
		!strings.HasPrefix(*g.DataObject.Mimetype, "text/plain") || *g.DataObject.ParentURI != sw.StorageURL+"/"+c {
		t.Fatalf("data object grant %+v", g.DataObject)
	}
	if *g.ContainerObject.Metadata != `{"project":"apollo"}` || *g.ContainerObject.Children != "1" || *g.ContainerObject.ObjectID != c {
		t.Fatalf("container grant %+v", g.ContainerObject)
	}
	if *g.DomainObject.ObjectURI != sw.StorageURL || *g.DomainObject.ObjectID != swiftpeer.Account || g.DomainObject.Children == nil ||
		!strings.Contains(*g.DomainObject.Metadata, `"swift-object-count"`) {
		t.Fatalf("domain object grant %+v", g.DomainObject)
	}

	// The resource survives a JSON round trip (it is persisted).
	raw, _ := json.Marshal(res)
	var back contract.Resource
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	st, err := a.Status(ctx, &back)
	if err != nil || st.State != contract.StateReady || *st.Granted.DSaaS.DataObject.Status != "available" {
		t.Fatalf("status: %+v %v", st, err)
	}

	// Update: a new value keeps the metadata; then metadata alone.
	up, err := a.Update(ctx, st, &contract.Request{JobID: "job-life", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("second version")},
	}}})
	if err != nil {
		t.Fatalf("update value: %v", err)
	}
	resp, body = api.do("GET", "/"+c+"/hello.txt", "", nil)
	if body != "second version" || resp.Header.Get("X-Object-Meta-Color") != "blue" {
		t.Fatalf("after value update: %q %v", body, resp.Header)
	}
	up, err = a.Update(ctx, up, &contract.Request{JobID: "job-life", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject:      &csbmsg.DataObject{Metadata: s(`{"color":"red"}`), Mimetype: s("application/json")},
		ContainerObject: &csbmsg.ContainerObject{Metadata: s("stage=prod")},
	}}})
	if err != nil {
		t.Fatalf("update metadata: %v", err)
	}
	resp, body = api.do("GET", "/"+c+"/hello.txt", "", nil)
	if body != "second version" || resp.Header.Get("X-Object-Meta-Color") != "red" || resp.Header.Get("X-Object-Meta-Owner") != "" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("after metadata update: %q %v", body, resp.Header)
	}
	resp, _ = api.do("HEAD", "/"+c, "", nil)
	if resp.Header.Get("X-Container-Meta-Stage") != "prod" || resp.Header.Get("X-Container-Meta-Project") != "" {
		t.Fatalf("container metadata after update: %v", resp.Header)
	}
	if *up.Granted.DSaaS.DataObject.Metadata != `{"color":"red"}` {
		t.Fatalf("grant after update: %s", *up.Granted.DSaaS.DataObject.Metadata)
	}

	// Objects the owner added (through the proxy) go with the job.
	if resp, _ := api.do("PUT", "/"+c+"/extra/one", "1", nil); resp.StatusCode != 201 {
		t.Fatalf("put extra: %s", resp.Status)
	}
	if err := a.Remove(ctx, up); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if resp, _ := api.do("HEAD", "/"+c, "", nil); resp.StatusCode != 404 {
		t.Fatalf("container after remove: %s", resp.Status)
	}
	out, err = sw.CLI(ctx, "list")
	if err != nil || strings.Contains(out, c) {
		t.Fatalf("swift list after remove: %q %v", out, err)
	}
	// Removing again is not an error; Status says gone.
	if err := a.Remove(ctx, up); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if st, err := a.Status(ctx, up); err != nil || st.State != contract.StateGone {
		t.Fatalf("status after remove: %+v %v", st, err)
	}
}

// TestSwiftExistingContainerRefused: a container the job did not create
// is never adopted, nor changed.
func TestSwiftExistingContainerRefused(t *testing.T) {
	sw := swiftpeer.Shared(t)
	api := newSwiftAPI(t, sw)
	a := tempAuthAdapter(t, sw)
	if resp, _ := api.do("PUT", "/someone-elses", "", map[string]string{"X-Container-Meta-Who": "bob"}); resp.StatusCode != 201 {
		t.Fatalf("setup: %s", resp.Status)
	}
	t.Cleanup(func() { api.do("DELETE", "/someone-elses", "", nil) })
	res, err := a.Provision(context.Background(), &contract.Request{JobID: "j2", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("someone-elses")}, Metadata: s("who=mallory")},
	}}})
	if contract.KindOf(err) != contract.KindClient || res != nil {
		t.Fatalf("got %v %v, want a provider_4xx refusal and no resource", res, err)
	}
	if resp, _ := api.do("HEAD", "/someone-elses", "", nil); resp.Header.Get("X-Container-Meta-Who") != "bob" {
		t.Fatalf("container was changed: %v", resp.Header)
	}
	// A DataObject whose parent names it is refused too.
	_, err = a.Provision(context.Background(), &contract.Request{JobID: "j3", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ParentURI: s(sw.StorageURL + "/someone-elses")}, Value: s("x")},
	}}})
	if contract.KindOf(err) != contract.KindClient {
		t.Fatalf("got %v", err)
	}
}

// TestSwiftFindClaimsOnlyTheJobsContainer: Find takes a container by its
// csb-job tag, never someone else's container of the name the request
// gives, and the tag stays the broker's.
func TestSwiftFindClaimsOnlyTheJobsContainer(t *testing.T) {
	sw := swiftpeer.Shared(t)
	api := newSwiftAPI(t, sw)
	a := tempAuthAdapter(t, sw)
	ctx := context.Background()
	if resp, _ := api.do("PUT", "/find-theirs", "", nil); resp.StatusCode != 201 {
		t.Fatalf("setup: %s", resp.Status)
	}
	t.Cleanup(func() { api.do("DELETE", "/find-theirs", "", nil) })
	named := func(job, c string) *contract.Request {
		return &contract.Request{JobID: job, Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
			ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s(c)}, Metadata: s("tier=gold")},
		}}}
	}
	if res, err := a.Find(ctx, named("f1", "find-theirs")); err != nil || res != nil {
		t.Fatalf("find claimed an untagged container the request names: %+v %v", res, err)
	}
	res, err := a.Provision(ctx, named("f2", "find-mine"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Remove(ctx, res) })
	if got := *res.Granted.DSaaS.ContainerObject.Metadata; got != `{"tier":"gold"}` {
		t.Fatalf("the job tag shows in the grant: %s", got)
	}
	if other, err := a.Find(ctx, named("f3", "find-mine")); err != nil || other != nil {
		t.Fatalf("find claimed job f2's container for job f3: %+v %v", other, err)
	}
	found, err := a.Find(ctx, named("f2", "find-mine"))
	if err != nil || found == nil || found.State != contract.StateReady || found.Native[nativeContainer] != "find-mine" {
		t.Fatalf("find for the job: %+v %v", found, err)
	}
	// A metadata update keeps the tag; a request may not set it.
	if _, err := a.Update(ctx, res, &contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{Metadata: s("tier=silver")},
	}}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := api.do("HEAD", "/find-mine", "", nil); resp.Header.Get("X-Container-Meta-Csb-Job") != "f2" || resp.Header.Get("X-Container-Meta-Tier") != "silver" {
		t.Fatalf("after a metadata update: %v", resp.Header)
	}
	_, err = a.Update(ctx, res, &contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{Metadata: s("csb-job=f3")},
	}}})
	if contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("setting the job tag: %v, want a refusal before any provider call (unsupported)", err)
	}
}

// TestSwiftReauthenticates: a token Swift no longer accepts is replaced
// on the 401, and the call succeeds.
func TestSwiftReauthenticates(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := tempAuthAdapter(t, sw)
	auths := &countingTransport{suffix: "/auth/v1.0"}
	a.SetHTTPClient(&http.Client{Transport: auths})
	ctx := context.Background()
	svcs, err := a.Discover(ctx)
	if err != nil || len(svcs) != 1 || svcs[0].DSaaS == nil || svcs[0].URI != sw.StorageURL {
		t.Fatalf("discover: %+v %v", svcs, err)
	}
	pc, err := a.s.provider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := pc.Token()
	pc.SetToken("AUTH_tk" + strings.Repeat("0", 32)) // well-formed, unknown to Swift
	if _, err := a.Discover(ctx); err != nil {
		t.Fatalf("discover after token loss: %v", err)
	}
	// TempAuth hands out the same token while it is valid.
	if tok := pc.Token(); tok != old {
		t.Fatalf("token after re-authentication: %q", tok)
	}
	if n := auths.n.Load(); n != 2 {
		t.Fatalf("%d authentications, want 2", n)
	}

	// Wrong credentials are a provider_4xx that names no secret.
	bad, _ := New(Config{TempAuthURL: sw.AuthURL, TempAuthUser: swiftpeer.User, TempAuthKey: "wrong-key-s3cret"})
	_, err = bad.Discover(ctx)
	if contract.KindOf(err) != contract.KindClient || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad credentials: %v", err)
	}
}

// TestSwiftFront forwards consumer requests to the real Swift the way the
// transparent proxy does, and refuses what leaves the job's container.
func TestSwiftFront(t *testing.T) {
	sw := swiftpeer.Shared(t)
	api := newSwiftAPI(t, sw)
	a := tempAuthAdapter(t, sw)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "front", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("a b/c.txt")}, Value: s("fronted")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Remove(ctx, res) })
	if resp, _ := api.do("PUT", "/front-other", "", nil); resp.StatusCode/100 != 2 {
		t.Fatal(resp.Status)
	}
	t.Cleanup(func() { api.do("DELETE", "/front-other", "", nil) })

	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "X-Auth-Token", Credential: "consumer-token"}
	send := func(method, target string, hdr map[string]string, body string) (*http.Response, string, error) {
		t.Helper()
		resp, b, err := fc.Do(method, target, hdr, body)
		if err == nil && fc.Upstream.Host != strings.TrimPrefix(sw.ProxyURL, "http://") {
			t.Fatalf("upstream %v, want the Swift proxy", fc.Upstream)
		}
		return resp, b, err
	}
	resp, body, err := send("GET", "/csb-front/a%20b/c.txt", nil, "")
	if err != nil || resp.StatusCode != 200 || body != "fronted" {
		t.Fatalf("GET: %v %v %q", resp, err, body)
	}
	resp, _, err = send("PUT", "/csb-front/new.bin", map[string]string{"Content-Type": "application/octet-stream"}, "\x00\x01")
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp, _, err = send("PUT", "/csb-front/copy", map[string]string{"X-Copy-From": "csb-front/new.bin"}, "")
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("same-container copy: %v %v", resp, err)
	}
	resp, body, err = send("GET", "/csb-front?format=json", nil, "")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, `"new.bin"`) {
		t.Fatalf("listing: %v %v %q", resp, err, body)
	}
	fc.Refuses([]adaptertest.Refusal{
		{Method: "GET", Target: "/", Kind: contract.KindNotFound},
		{Method: "GET", Target: "/front-other", Kind: contract.KindNotFound},
		{Method: "PUT", Target: "/front-other/x", Kind: contract.KindNotFound},
		{Method: "GET", Target: "/csb-front-x/a", Kind: contract.KindNotFound},
		{Method: "DELETE", Target: "/csb-front", Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front/steal", Header: map[string]string{"X-Copy-From": "front-other/secret"}, Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front/steal", Header: map[string]string{"X-Copy-From": "/front-other%2Fsecret"}, Kind: contract.KindClient},
		{Method: "COPY", Target: "/csb-front/new.bin", Header: map[string]string{"Destination": "front-other/x"}, Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front/dlo", Header: map[string]string{"X-Object-Manifest": "front-other/"}, Kind: contract.KindClient},
		{Method: "POST", Target: "/csb-front", Header: map[string]string{"X-Container-Read": ".r:*"}, Kind: contract.KindClient},
		{Method: "POST", Target: "/csb-front", Header: map[string]string{"X-Account-Meta-Quota-Bytes": "1"}, Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front/slo?multipart-manifest=put", Kind: contract.KindClient},
	})
	if resp, _ := api.do("HEAD", "/front-other/x", "", nil); resp.StatusCode != 404 {
		t.Fatalf("a refused request reached Swift: %s", resp.Status)
	}
}

// countingTransport counts the requests whose path ends with suffix.
type countingTransport struct {
	suffix string
	n      atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, c.suffix) {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestSwiftFrontRefreshesToken: a token about to expire is replaced
// before it is forwarded; a fresh one is reused.
func TestSwiftFrontRefreshesToken(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := tempAuthAdapter(t, sw)
	auths := &countingTransport{suffix: "/auth/v1.0"}
	a.SetHTTPClient(&http.Client{Transport: auths})
	ctx := context.Background()
	tok, exp, err := a.s.token(ctx)
	if err != nil || exp.IsZero() {
		t.Fatalf("token %v, expiry %v (TempAuth sends X-Auth-Token-Expires)", err, exp)
	}
	res := &contract.Resource{Native: map[string]string{nativeKind: kindStorage, nativeContainer: "c", nativeStorageURL: sw.StorageURL}}
	front := func() {
		t.Helper()
		r, _ := http.NewRequest("GET", "http://x/c/o", nil)
		if _, err := a.Front(ctx, r, res); err != nil {
			t.Fatal(err)
		}
		if r.Header.Get("X-Auth-Token") != tok {
			t.Fatalf("forwarded token differs")
		}
	}
	front()
	if n := auths.n.Load(); n != 1 {
		t.Fatalf("%d authentications for a fresh token, want 1", n)
	}
	a.clock = clock.NewFake(exp.Add(-time.Minute))
	front() // TempAuth hands out the same token while it is valid
	if n := auths.n.Load(); n != 2 {
		t.Fatalf("%d authentications after nearing expiry, want 2", n)
	}
	front()
	if n := auths.n.Load(); n != 2 {
		t.Fatalf("%d authentications after the refresh, want still 2", n)
	}
}

func httpGet(t testing.TB, u, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return string(b)
}
