package csbosb

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

func TestOSBParseParams(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		kind catalog.Kind
		want string // "" = ok; else a substring of the error
		chk  func(params) bool
	}{
		{"", catalog.KindIaaS, "", nil},
		{"null", catalog.KindIaaS, "", nil},
		{`{"cores":4,"memory":8,"storage":100}`, catalog.KindIaaS, "", func(p params) bool { return *p.Cores == 4 && *p.Memory == 8 && *p.Storage == 100 }},
		{`{"lease":"90m"}`, catalog.KindIaaS, "", func(p params) bool { return p.Lease == 90*time.Minute }},
		{`{"lease":3600}`, catalog.KindDSaaS, "", func(p params) bool { return p.Lease == time.Hour }},
		{`{"lease":"7200"}`, catalog.KindIaaS, "", func(p params) bool { return p.Lease == 2*time.Hour }},
		{`{"provider":"cloud-a"}`, catalog.KindIaaS, "", func(p params) bool { return p.Provider == "cloud-a" }},
		{`{"cores":"two"}`, catalog.KindIaaS, "parameter cores: must be a whole number", nil},
		{`{"cores":0}`, catalog.KindIaaS, "parameter cores", nil},
		{`{"cores":2.5}`, catalog.KindIaaS, "parameter cores", nil},
		{`{"cores":-1}`, catalog.KindIaaS, "parameter cores", nil},
		{`{"memory":1e12}`, catalog.KindIaaS, "parameter memory", nil},
		{`{"lease":"-1h"}`, catalog.KindIaaS, "parameter lease", nil},
		{`{"lease":"soon"}`, catalog.KindIaaS, "parameter lease", nil},
		{`{"lease":true}`, catalog.KindIaaS, "parameter lease", nil},
		{`{"provider":""}`, catalog.KindIaaS, "parameter provider", nil},
		{`{"provider":7}`, catalog.KindIaaS, "parameter provider", nil},
		{`{"colour":"blue"}`, catalog.KindIaaS, `unknown parameter "colour"`, nil},
		{`{"cores":2}`, catalog.KindDSaaS, `unknown parameter "cores" for a DSaaS plan`, nil},
		{`[1]`, catalog.KindIaaS, "JSON object", nil},
		{`{`, catalog.KindIaaS, "JSON object", nil},
	} {
		p, err := parseParams(json.RawMessage(tc.raw), tc.kind)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one saying %q", tc.raw, err, tc.want)
		case tc.chk != nil && !tc.chk(p):
			t.Errorf("%s: parsed %+v", tc.raw, p)
		}
	}
}

func TestOSBOriginatingIdentity(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct{ header, want, err string }{
		{"cloudfoundry " + enc(`{"user_id":"683ea748-3092-4ff4-b656-39cacc4d5360"}`), "cloudfoundry:683ea748-3092-4ff4-b656-39cacc4d5360", ""},
		{"kubernetes " + enc(`{"username":"duke","groups":["admin"]}`), "kubernetes:duke", ""},
		{"CloudFoundry " + enc(`{"user_id":"x"}`), "cloudfoundry:x", ""},
		{"other " + enc(`{"a":1}`), "other:", ""},
		{"cloudfoundry", "", "must be"},
		{"cloudfoundry !!!", "", "not base64"},
		{"cloudfoundry " + enc(`"alice"`), "", "not a JSON object"},
		{"cloudfoundry " + enc(`{}`), "", "empty"},
	} {
		got, err := parseOriginatingIdentity(tc.header)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.header, err, tc.err)
			}
			continue
		}
		if err != nil || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: %q %v, want %q", tc.header, got, err, tc.want)
		}
	}
	// Two end users of one platform, and one end user of two platform
	// users, are different owners.
	a := caller{Platform: "platform", User: "cloudfoundry:alice"}
	b := caller{Platform: "platform", User: "cloudfoundry:bob"}
	o := caller{Platform: "other", User: "cloudfoundry:alice"}
	p := caller{Platform: "platform"}
	owners := map[string]bool{a.owner(): true, b.owner(): true, o.owner(): true, p.owner(): true}
	if len(owners) != 4 || p.owner() != "platform" {
		t.Errorf("owners %v", owners)
	}
}

func TestOSBCaddyfile(t *testing.T) {
	h := new(Handler)
	d := caddyfile.NewTestDispenser(`csb_osb {
		plan small {
			cores 2
			memory 4
			storage 20
			lease 1h
		}
		plan bucket {
			kind dsaas
			provider cloud-a
			description "a bucket at cloud-a"
		}
		plan crm {
			kind saas
			link crm
		}
		derive_plans on
		platforms platform ci
		job_route https://broker.example.com/csb/jobs/
		broker_id my-broker
		maintenance_version 1.2.0
	}`)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if len(h.Plans) != 3 || h.Plans[0].Cores != 2 || h.Plans[0].Lease != 3_600_000_000_000 || h.Plans[1].Provider != "cloud-a" ||
		h.Plans[2].Link != "crm" || h.DerivePlans == nil || !*h.DerivePlans || len(h.Platforms) != 2 ||
		h.JobRoute != "https://broker.example.com/csb/jobs/" || h.BrokerID != "my-broker" || h.MaintenanceVersion != "1.2.0" {
		t.Errorf("parsed %+v", h)
	}
	if err := h.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	block := func(lines ...string) string { return "csb_osb {\n" + strings.Join(lines, "\n") + "\n}" }
	for _, bad := range []struct{ in, want string }{
		{`csb_osb extra`, "wrong argument count"},
		{block("plan"), "needs a name"},
		{block("plan x {", "cores two", "}"), "whole number"},
		{block("plan x {", "kind faas", "}"), "unknown kind"},
		{block("plan x {", "kind dsaas", "cores 2", "}"), "for iaas plans"},
		{block("plan x {", "kind saas", "}"), "needs a link"},
		{block("plan x {", "speed 3", "}"), "unrecognized option"},
		{block("derive_plans maybe"), "on or off"},
		{block("platforms"), "wrong argument count"},
		{block("colour blue"), "unrecognized option"},
	} {
		err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad.in))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.in, err, bad.want)
		}
	}
	dup := &Handler{Plans: []Plan{{Name: "a"}, {Name: "a"}}, JobRoute: "/j/"}
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate plan: %v", err)
	}
	if err := (&Handler{JobRoute: "jobs"}).Validate(); err == nil {
		t.Errorf("relative job_route accepted")
	}
	var b BindingAuth
	if err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`csb_binding_auth apps`)); err != nil || b.Realm != "apps" {
		t.Errorf("csb_binding_auth apps: %v %q", err, b.Realm)
	}
}

// TestOSBCatalogueIDs: ids are stable for a broker id and differ between
// brokers, kinds and plans.
func TestOSBCatalogueIDs(t *testing.T) {
	if planID("b", catalog.KindIaaS, "small") != planID("b", catalog.KindIaaS, "small") {
		t.Fatal("plan ids are not stable")
	}
	ids := map[string]bool{
		planID("b", catalog.KindIaaS, "small"): true, planID("c", catalog.KindIaaS, "small"): true,
		planID("b", catalog.KindDSaaS, "small"): true, planID("b", catalog.KindIaaS, "large"): true,
		serviceID("b", catalog.KindIaaS): true, serviceID("b", catalog.KindDSaaS): true,
	}
	if len(ids) != 6 {
		t.Errorf("ids collide: %v", ids)
	}
}

// TestOSBMaintenanceVersionIsSemver: the catalogue's maintenance_info
// version MUST be a semantic version 2.0 (OSB, Maintenance Info Object),
// so the configuration refuses any other maintenance_version.
func TestOSBMaintenanceVersionIsSemver(t *testing.T) {
	for v, ok := range map[string]bool{
		"1.2.0": true, "2.1.1+abcdef": true, "1.0.0-rc.1": true, "0.0.1-alpha.beta+exp.sha.5114f85": true,
		"banana": false, "1.2": false, "v1.2.0": false, "01.2.0": false, "1.2.0-": false, "1.2.0+": false, " 1.2.0": false,
	} {
		err := (&Handler{JobRoute: "/j/", MaintenanceVersion: v}).Validate()
		if (err == nil) != ok {
			t.Errorf("maintenance_version %q: %v, want accepted %v", v, err, ok)
		}
	}
}
