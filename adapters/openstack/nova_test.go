package openstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func passwordConfig(d *double) Config {
	return Config{
		AuthURL: d.authURL(), Region: "RegionOne",
		Username: dblUser, UserDomainName: dblDomain, Password: d.password,
		ProjectName: "demo", ProjectDomainName: dblDomain,
		Image: "70a599e0-31e7-49b7-b260-868f441e862b",
	}
}

func mustNew(t *testing.T, cfg Config) *Adapter {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestKeystoneCatalogue: password authentication sends the reference's
// request shape, and endpoints are chosen by region and interface.
func TestKeystoneCatalogue(t *testing.T) {
	for _, tc := range []struct {
		region, iface, hit string
	}{
		{"RegionOne", "", "r1-public"},
		{"RegionOne", "internal", "r1-internal"},
		{"RegionOne", "admin", "r1-admin"},
		{"RegionTwo", "public", "r2-public"},
	} {
		t.Run(tc.region+"-"+tc.iface, func(t *testing.T) {
			d := newDouble(t)
			cfg := passwordConfig(d)
			cfg.Region, cfg.Interface = tc.region, tc.iface
			a := mustNew(t, cfg)
			svcs, err := a.Discover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(d.computeHits) != 1 || d.computeHits[tc.hit] == 0 {
				t.Fatalf("compute endpoints used: %v, want only %s", d.computeHits, tc.hit)
			}
			if diff := sameShape(readJSON(t, "keystone/auth-password-project-scoped-request.json"), d.authBodies[0], "$"); diff != "" {
				t.Fatalf("auth request differs from the reference: %s", diff)
			}
			// Enabled flavors only, smallest first; no object store in
			// this catalogue.
			var ids []string
			for _, s := range svcs {
				ids = append(ids, s.ID)
			}
			if got := strings.Join(ids, " "); got != "flavor-1 flavor-2 flavor-c1.volume flavor-3 flavor-4" {
				t.Fatalf("services %s", got)
			}
			tiny := svcs[0].IaaS
			if *tiny.Compute.Cores != 1 || *tiny.Compute.Memory != 0 || *tiny.Storage.Size != 1 {
				t.Fatalf("m1.tiny: %+v %+v", tiny.Compute, tiny.Storage)
			}
			if svcs[2].IaaS.Storage != nil {
				t.Fatal("a disk-0 flavor advertises no storage size")
			}
			if !strings.HasSuffix(svcs[0].URI, "/compute/"+tc.hit+"/v2.1/"+dblProject+"/flavors/1") {
				t.Fatalf("URI %s", svcs[0].URI)
			}
		})
	}
	d := newDouble(t)
	cfg := passwordConfig(d)
	cfg.Region = "RegionThree"
	_, err := mustNew(t, cfg).Discover(context.Background())
	if contract.KindOf(err) != contract.KindUnsupported || !strings.Contains(err.Error(), `"RegionThree"`) {
		t.Fatalf("unknown region: %v", err)
	}
}

// TestKeystoneApplicationCredential authenticates with an application
// credential; a wrong secret is a provider_4xx that does not show it.
func TestKeystoneApplicationCredential(t *testing.T) {
	d := newDouble(t)
	a := mustNew(t, Config{AuthURL: d.authURL(), ApplicationCredentialID: d.appCredID, ApplicationCredentialSecret: d.appSecret})
	if _, err := a.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := sameShape(readJSON(t, "keystone/auth-application-credential-id-request.json"), d.authBodies[0], "$"); diff != "" {
		t.Fatalf("auth request differs from the reference: %s", diff)
	}
	if _, scoped := d.authBodies[0]["auth"].(map[string]any)["scope"]; scoped {
		t.Fatal("an application credential carries its own scope; the request must not add one")
	}
	bad := mustNew(t, Config{AuthURL: d.authURL(), ApplicationCredentialID: d.appCredID, ApplicationCredentialSecret: "not-the-s3cret"})
	_, err := bad.Discover(context.Background())
	if contract.KindOf(err) != contract.KindClient || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestKeystoneReauthenticatesOn401 caches the token and authenticates
// again only when Nova refuses it.
func TestKeystoneReauthenticatesOn401(t *testing.T) {
	d := newDouble(t)
	a := mustNew(t, passwordConfig(d))
	ctx := context.Background()
	for range 3 {
		if _, err := a.Discover(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d.authCalls != 1 {
		t.Fatalf("%d authentications for 3 calls, want 1 (cached token)", d.authCalls)
	}
	d.revokeAll()
	if _, err := a.Discover(ctx); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if d.authCalls != 2 {
		t.Fatalf("%d authentications, want 2", d.authCalls)
	}
}

func TestSmallestFittingFlavor(t *testing.T) {
	d := newDouble(t)
	fl := d.flavors("http://compute")
	for _, tc := range []struct {
		n    need
		want string
	}{
		{need{}, "1"},
		{need{cores: 1, ramMiB: 1024}, "2"},
		{need{cores: 2, ramMiB: 2048}, "c1.volume"}, // disk 0 fits: no disk asked
		{need{cores: 2, ramMiB: 2048, diskGB: 10}, "3"},
		{need{cores: 2, ramMiB: 3072, diskGB: 30}, "3"},
		{need{cores: 3}, "4"},
		{need{ramMiB: 8192, diskGB: 80}, "4"},
		{need{cores: 5}, ""},
		{need{diskGB: 81}, ""},
	} {
		f, ok := smallestFitting(fl, tc.n)
		if (tc.want == "" && ok) || (tc.want != "" && f.ID != tc.want) {
			t.Errorf("%v: got %q %v, want %q", tc.n, f.ID, ok, tc.want)
		}
	}
}

func novaAdapter(t *testing.T, d *double) *Adapter {
	cfg := passwordConfig(d)
	cfg.Networks = []string{"ff608d40-75e9-48cb-b745-77bb55b5eaf2"}
	cfg.KeyName = "keypair-demo"
	cfg.SecurityGroups = []string{"default"}
	cfg.AvailabilityZone = "nova"
	return mustNew(t, cfg)
}

func status(t *testing.T, a *Adapter, res *contract.Resource) *contract.Resource {
	t.Helper()
	// Persisted between calls: round-trip through JSON as the broker does.
	raw, _ := json.Marshal(res)
	var back contract.Resource
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	out, err := a.Status(context.Background(), &back)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return out
}

// waitReady polls Status the way the broker does, bounded in calls (the
// double advances one transition per GET).
func waitReady(t *testing.T, a *Adapter, res *contract.Resource) *contract.Resource {
	t.Helper()
	for range 5 {
		res = status(t, a, res)
		if res.State != contract.StatePending {
			return res
		}
	}
	t.Fatalf("still pending after 5 polls: %+v", res)
	return nil
}

func update(t *testing.T, a *Adapter, res *contract.Resource, want csbmsg.ServiceRequest) *contract.Resource {
	t.Helper()
	out, err := a.Update(context.Background(), res, &contract.Request{JobID: "job-nova", Want: want})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return out
}

// TestNovaLifecycle creates a server of the smallest fitting flavor, polls
// it to ACTIVE, runs every compute action, resizes, snapshots and deletes
// it.
func TestNovaLifecycle(t *testing.T) {
	d := newDouble(t)
	a := novaAdapter(t, d)
	ctx := context.Background()
	req := &contract.Request{JobID: "job-nova", Owner: "alice", Want: adaptertest.IaaS(2, 3, 30)}
	host := "web-1"
	req.Want.IaaS.Compute.Hostname = &host
	res, err := a.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != contract.StatePending || res.Native[nativeFlavorID] != "3" {
		t.Fatalf("provision: %+v", res)
	}
	if diff := sameShape(readJSON(t, "nova/server-create-request.json"), d.createBody, "$"); diff != "" {
		t.Fatalf("create request differs from the reference: %s", diff)
	}
	srv := d.createBody["server"].(map[string]any)
	if srv["name"] != "web-1" || srv["flavorRef"] != "3" || srv["metadata"].(map[string]any)["csb-job"] != "job-nova" {
		t.Fatalf("create body %v", srv)
	}
	if raw, _ := json.Marshal(res); strings.Contains(string(raw), "Xy7pQ2rS9tUv") {
		t.Fatal("the server's admin password must not be kept")
	}
	if st := status(t, a, res); st.State != contract.StatePending {
		t.Fatalf("first poll: %s (BUILD)", st.State)
	}
	res = waitReady(t, a, res)
	if res.State != contract.StateReady || adaptertest.ComputeStatus(res) != csbmsg.ComputeActive {
		t.Fatalf("after build: %s %s", res.State, adaptertest.ComputeStatus(res))
	}
	g := res.Granted.IaaS
	if *g.Compute.Cores != 2 || *g.Compute.Memory != 4 || *g.Storage.Size != 40 || *g.Compute.Hostname != "web-1" ||
		*g.NetworkInterface.IP != "10.0.0.5" || *g.NetworkInterface.MAC != "fa:16:3e:4c:2c:30" || *g.Network.VLANLabel != "private" {
		t.Fatalf("grant %+v %+v %+v", g.Compute, g.Storage, g.NetworkInterface)
	}

	for _, step := range []struct {
		act    csbmsg.ComputeAction
		nova   string
		status csbmsg.ComputeStatus
		server string
	}{
		{csbmsg.ComputeStop, "os-stop", csbmsg.ComputeInactive, "SHUTOFF"},
		{csbmsg.ComputeStart, "os-start", csbmsg.ComputeActive, "ACTIVE"},
		{csbmsg.ComputeSuspend, "suspend", csbmsg.ComputeSuspended, "SUSPENDED"},
		{csbmsg.ComputeStart, "resume", csbmsg.ComputeActive, "ACTIVE"},
		{csbmsg.ComputeRestart, `reboot {"type":"SOFT"}`, csbmsg.ComputeActive, "ACTIVE"},
		{csbmsg.ComputeStop, "os-stop", csbmsg.ComputeInactive, "SHUTOFF"},
		{csbmsg.ComputeRestart, "os-start", csbmsg.ComputeActive, "ACTIVE"},
	} {
		before := len(d.actions)
		res = update(t, a, res, adaptertest.ComputeAction(step.act))
		if res.State != contract.StatePending {
			t.Fatalf("%s: update returned %s, want pending", step.act, res.State)
		}
		if len(d.actions) != before+1 || !strings.HasPrefix(d.actions[before], step.nova) {
			t.Fatalf("%s: nova actions %v, want %s", step.act, d.actions[before:], step.nova)
		}
		res = waitReady(t, a, res)
		if res.State != contract.StateReady || adaptertest.ComputeStatus(res) != step.status || d.server(res.Native[nativeServerID]).Status != step.server {
			t.Fatalf("%s: %s %s (server %s)", step.act, res.State, adaptertest.ComputeStatus(res), d.server(res.Native[nativeServerID]).Status)
		}
	}
	// Starting a running server sends nothing.
	before := len(d.actions)
	res = update(t, a, res, adaptertest.ComputeAction(csbmsg.ComputeStart))
	if len(d.actions) != before || res.State != contract.StateReady {
		t.Fatalf("start of an ACTIVE server: %v %s", d.actions[before:], res.State)
	}
	// Suspending a stopped server is refused before Nova sees it.
	res = update(t, a, res, adaptertest.ComputeAction(csbmsg.ComputeStop))
	res = waitReady(t, a, res)
	_, err = a.Update(ctx, res, &contract.Request{JobID: "job-nova", Want: adaptertest.ComputeAction(csbmsg.ComputeSuspend)})
	if ae := (*contract.Error)(nil); !asAdapterError(err, &ae) || ae.Kind != contract.KindClient || ae.Status != http.StatusConflict {
		t.Fatalf("suspend of SHUTOFF: %v", err)
	}
	res = waitReady(t, a, update(t, a, res, adaptertest.ComputeAction(csbmsg.ComputeStart)))

	// Resize to 6 GB: m1.large, confirmed by Status.
	res = update(t, a, res, adaptertest.IaaS(0, 6, 0))
	if res.State != contract.StatePending || !strings.HasPrefix(d.actions[len(d.actions)-1], `resize {"flavorRef":"4"}`) {
		t.Fatalf("resize: %s %v", res.State, d.actions)
	}
	res = waitReady(t, a, res)
	if d.actions[len(d.actions)-1] != "confirmResize null" {
		t.Fatalf("resize not confirmed: %v", d.actions)
	}
	if res.State != contract.StateReady || *res.Granted.IaaS.Compute.Cores != 4 || *res.Granted.IaaS.Compute.Memory != 8 || res.Native[nativeFlavorID] != "4" {
		t.Fatalf("after resize: %s %+v", res.State, res.Granted.IaaS.Compute)
	}

	// Snapshot: Nova's createImage.
	snap := csbmsg.StorageActSnapshot
	res = update(t, a, res, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Action: &snap}}})
	if res.Native[nativeSnapshot] != "7c1e2a3b-4d5e-6f70-8192-a3b4c5d6e7f8" {
		t.Fatalf("snapshot: %v", res.Native)
	}

	if err := a.Remove(ctx, res); err != nil {
		t.Fatal(err)
	}
	if st := status(t, a, res); st.State != contract.StateGone {
		t.Fatalf("after delete: %s", st.State)
	}
	if err := a.Remove(ctx, res); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func asAdapterError(err error, target **contract.Error) bool {
	ae, ok := err.(*contract.Error)
	if ok {
		*target = ae
	}
	return ok
}

// TestNovaFailures maps Nova's refusals and faults.
func TestNovaFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("quota", func(t *testing.T) {
		d := newDouble(t)
		d.quotaCores = 1
		_, err := novaAdapter(t, d).Provision(ctx, &contract.Request{JobID: "q", Want: adaptertest.IaaS(2, 0, 0)})
		if contract.KindOf(err) != contract.KindCapacity || !strings.Contains(err.Error(), "Quota exceeded for cores") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("quota on resize", func(t *testing.T) {
		// Nova checks the quota for a resize's new flavor and refuses
		// it with the create's 403 "Quota exceeded": the project has
		// no room, as for a create, not a refused request.
		d := newDouble(t)
		d.quotaCores = 1
		a := novaAdapter(t, d)
		res, err := a.Provision(ctx, &contract.Request{JobID: "qr", Want: adaptertest.IaaS(1, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		res = waitReady(t, a, res)
		_, err = a.Update(ctx, res, &contract.Request{JobID: "qr", Want: adaptertest.IaaS(2, 0, 0)})
		if contract.KindOf(err) != contract.KindCapacity || !strings.Contains(err.Error(), "Quota exceeded for cores") {
			t.Fatalf("resize beyond the quota: %v, want capacity", err)
		}
	})
	t.Run("no flavor fits", func(t *testing.T) {
		d := newDouble(t)
		_, err := novaAdapter(t, d).Provision(ctx, &contract.Request{JobID: "big", Want: adaptertest.IaaS(64, 0, 0)})
		if contract.KindOf(err) != contract.KindCapacity || d.createBody != nil {
			t.Fatalf("got %v (create sent: %v)", err, d.createBody != nil)
		}
	})
	t.Run("no valid host", func(t *testing.T) {
		d := newDouble(t)
		cfg := passwordConfig(d)
		cfg.Image = "img-no-host"
		a := mustNew(t, cfg)
		res, err := a.Provision(ctx, &contract.Request{JobID: "nohost", Want: adaptertest.IaaS(1, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		res = waitReady(t, a, res)
		if res.State != contract.StateFailed || !strings.Contains(res.Native[nativeFault], "No valid host") {
			t.Fatalf("got %s %v", res.State, res.Native)
		}
	})
	t.Run("architecture images", func(t *testing.T) {
		d := newDouble(t)
		cfg := passwordConfig(d)
		cfg.Image = ""
		cfg.ArchImages = map[string]string{"aarch64": "img-arm"}
		a := mustNew(t, cfg)
		arch := "aarch64"
		want := adaptertest.IaaS(1, 0, 0)
		want.IaaS.Compute.Architecture = &arch
		if _, err := a.Provision(ctx, &contract.Request{JobID: "arm", Want: want}); err != nil {
			t.Fatal(err)
		}
		if img := d.createBody["server"].(map[string]any)["imageRef"]; img != "img-arm" {
			t.Fatalf("imageRef %v", img)
		}
		arch = "x86_64"
		if _, err := a.Provision(ctx, &contract.Request{JobID: "x86", Want: want}); contract.KindOf(err) != contract.KindUnsupported {
			t.Fatalf("unknown architecture: %v", err)
		}
	})
	t.Run("unsupported", func(t *testing.T) {
		d := newDouble(t)
		a := novaAdapter(t, d)
		up := csbmsg.NetworkUp
		for _, want := range []csbmsg.ServiceRequest{
			{IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{Action: &up}}},
			{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Href: "http://x/ovf"}}},
			{PaaS: &csbmsg.PaaS{}},
			{},
		} {
			if _, err := a.Provision(ctx, &contract.Request{JobID: "u", Want: want}); contract.KindOf(err) != contract.KindUnsupported {
				t.Errorf("%+v: %v", want, err)
			}
		}
		bad := "not a host!"
		want := adaptertest.IaaS(1, 0, 0)
		want.IaaS.Compute.Hostname = &bad
		if _, err := a.Provision(ctx, &contract.Request{JobID: "h", Want: want}); contract.KindOf(err) != contract.KindClient {
			t.Errorf("bad hostname: %v", err)
		}
	})
	t.Run("tempauth has no nova", func(t *testing.T) {
		ta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Auth-Token", "AUTH_tk1")
			w.Header().Set("X-Storage-Url", "http://"+r.Host+"/v1/AUTH_a")
		}))
		defer ta.Close()
		a := mustNew(t, Config{TempAuthURL: ta.URL + "/auth/v1.0", TempAuthUser: "a:b", TempAuthKey: "k"})
		_, err := a.Provision(ctx, &contract.Request{JobID: "t", Want: adaptertest.IaaS(1, 0, 0)})
		if contract.KindOf(err) != contract.KindUnsupported {
			t.Fatalf("got %v", err)
		}
	})
}

// TestNovaFront lets a job's owner read its server and power it, and
// nothing else.
func TestNovaFront(t *testing.T) {
	d := newDouble(t)
	a := novaAdapter(t, d)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "fr", Want: adaptertest.IaaS(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	res = waitReady(t, a, res)
	id := res.Native[nativeServerID]
	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "X-Auth-Token", Credential: "consumer"}
	send := func(method, path, body string) (*http.Response, error) {
		resp, _, err := fc.Do(method, path, nil, body)
		return resp, err
	}
	if resp, err := send("GET", "/servers/"+id, ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET own server: %v %v", resp, err)
	}
	if resp, err := send("POST", "/servers/"+id+"/action", `{"os-stop": null}`); err != nil || resp.StatusCode != 202 {
		t.Fatalf("os-stop: %v %v", resp, err)
	}
	fc.Refuses([]adaptertest.Refusal{
		{Method: "GET", Target: "/servers", Kind: contract.KindNotFound},
		{Method: "GET", Target: "/servers/" + id + "x", Kind: contract.KindNotFound},
		{Method: "GET", Target: "/flavors/detail", Kind: contract.KindNotFound},
		{Method: "DELETE", Target: "/servers/" + id, Kind: contract.KindClient},
		{Method: "PUT", Target: "/servers/" + id, Body: `{"server":{"name":"x"}}`, Kind: contract.KindClient},
		{Method: "POST", Target: "/servers/" + id + "/action", Body: `{"rebuild": {"imageRef": "other"}}`, Kind: contract.KindClient},
		{Method: "POST", Target: "/servers/" + id + "/action", Body: `{"os-start": null, "os-stop": null}`, Kind: contract.KindClient},
		{Method: "POST", Target: "/servers/" + id + "/os-volume_attachments", Body: `{"volumeAttachment":{"volumeId":"v"}}`, Kind: contract.KindClient},
	})
}

func TestConfigValidate(t *testing.T) {
	ok := []Config{
		{AuthURL: "https://k/v3", Username: "u", UserDomainName: "Default", Password: "p", ProjectName: "p", ProjectDomainID: "default"},
		{AuthURL: "https://k/v3", UserID: "u", Password: "p", ProjectID: "p"},
		{AuthURL: "https://k/v3", ApplicationCredentialID: "id", ApplicationCredentialSecret: "s"},
		{AuthURL: "https://k/v3", ApplicationCredentialName: "n", Username: "u", UserDomainID: "d", ApplicationCredentialSecret: "s"},
		{TempAuthURL: "http://s/auth/v1.0", TempAuthUser: "a:u", TempAuthKey: "k", ObjectStoreURL: "http://s/v1/AUTH_a"},
	}
	for i, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("ok[%d]: %v", i, err)
		}
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, "auth_url (Keystone v3) or tempauth_url"},
		{Config{AuthURL: "ftp://k", UserID: "u", Password: "p"}, "not an http(s) URL"},
		{Config{AuthURL: "https://k/v3", TempAuthURL: "http://s/auth/v1.0"}, "exclusive"},
		{Config{AuthURL: "https://k/v3", Username: "u", Password: "p"}, "username needs user_domain"},
		{Config{AuthURL: "https://k/v3", UserID: "u"}, "password is required"},
		{Config{AuthURL: "https://k/v3", UserID: "u", Password: "p", ProjectName: "x"}, "project_name needs"},
		{Config{AuthURL: "https://k/v3", ApplicationCredentialID: "id"}, "application_credential_secret is required"},
		{Config{AuthURL: "https://k/v3", ApplicationCredentialName: "n", ApplicationCredentialSecret: "s"}, "needs user_id or username"},
		{Config{AuthURL: "https://k/v3", UserID: "u", Password: "p", Interface: "private"}, `interface "private"`},
		{Config{TempAuthURL: "http://s/auth/v1.0", TempAuthUser: "nocolon", TempAuthKey: "k"}, "want account:user"},
		{Config{TempAuthURL: "http://s/auth/v1.0", TempAuthUser: "a:u"}, "tempauth_key are required"},
		{Config{TempAuthURL: "http://s/auth/v1.0", TempAuthUser: "a:u", TempAuthKey: "k", ComputeURL: "http://n"}, "compute_url needs Keystone"},
		{Config{TempAuthURL: "http://s/auth/v1.0", TempAuthUser: "a:u", TempAuthKey: "k", NamePrefix: "bad/prefix"}, "name_prefix"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}
