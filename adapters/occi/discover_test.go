package occi_test

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// The recorded discovery of the rOCCI server at 141.5.99.69 parses, with
// every kind, mixin and action it declared.
func TestParseRecordedDiscoveryText(t *testing.T) {
	body := occitest.MustBody(occitest.CassetteDiscoveryText, "get", "/-/", "text/plain")
	msg, err := occi.ParsePlain([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	md := occi.ModelFrom(msg)
	wantKinds := []string{
		occi.SchemeCore + "entity", occi.SchemeCore + "resource", occi.SchemeCore + "link",
		occi.KindCompute, occi.KindNetworkInterface, occi.KindStorage, occi.KindNetwork, occi.KindStorageLink,
	}
	if len(md.Kinds) != len(wantKinds) {
		t.Errorf("%d kinds, want %d", len(md.Kinds), len(wantKinds))
	}
	for _, id := range wantKinds {
		if _, ok := md.Kind(id); !ok {
			t.Errorf("kind %s missing", id)
		}
	}
	compute, _ := md.Kind(occi.KindCompute)
	if compute.Location != "/compute/" || compute.Title != "Compute Resource" || len(compute.Actions) != 4 {
		t.Errorf("compute = %+v", compute)
	}
	for _, a := range []string{"occi.compute.architecture", "occi.compute.cores", "occi.compute.hostname", "occi.compute.speed", "occi.compute.memory", "occi.compute.state"} {
		if _, ok := compute.Attr(a); !ok {
			t.Errorf("compute lacks %s", a)
		}
	}
	wantMixins := []string{
		occi.MixinIPNetwork, occi.MixinResourceTpl, occi.MixinOSTpl, occi.MixinIPNetworkInterface,
		"http://my.occi.service/occi/infrastructure/os_tpl#my_os",
		"http://my.occi.service/occi/infrastructure/resource_tpl#large",
		"http://my.occi.service/occi/infrastructure/resource_tpl#small",
		"http://my.occi.service/occi/infrastructure/resource_tpl#medium",
		"http://my.occi.service/occi/infrastructure/resource_tpl#extra_large",
	}
	if len(md.Mixins) != len(wantMixins) {
		t.Errorf("%d mixins, want %d", len(md.Mixins), len(wantMixins))
	}
	for _, id := range wantMixins {
		if _, ok := md.Mixin(id); !ok {
			t.Errorf("mixin %s missing", id)
		}
	}
	if tpls := md.MixinsRelatedTo(occi.MixinResourceTpl); len(tpls) != 4 {
		t.Errorf("resource templates = %d, want 4", len(tpls))
	}
	// 4 compute, 5 storage and 2 network actions; the recording declares
	// "down" under the scheme ".../network/action#up".
	if len(md.Actions) != 11 {
		t.Errorf("%d actions, want 11", len(md.Actions))
	}
	if _, ok := md.Action("http://schemas.ogf.org/occi/infrastructure/network/action#updown"); !ok {
		t.Errorf("the recorded down action (scheme ...#up) was not kept as recorded")
	}
	if !md.KindHasAction(occi.KindNetwork, occi.SchemeNetworkAction+"down") {
		t.Errorf("network kind should list the down action")
	}
}

// The recorded JSON discovery of the same server parses, and carries the
// resource templates' sizes the text rendering lacks.
func TestParseRecordedDiscoveryJSON(t *testing.T) {
	body := occitest.MustBody(occitest.CassetteDiscoveryJSON, "get", "/-/", "application/json")
	md, err := occi.ParseModelJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Kinds) != 8 || len(md.Mixins) != 9 || len(md.Actions) != 11 {
		t.Fatalf("kinds %d mixins %d actions %d", len(md.Kinds), len(md.Mixins), len(md.Actions))
	}
	large, ok := md.Mixin("http://my.occi.service/occi/infrastructure/resource_tpl#large")
	if !ok {
		t.Fatal("large template missing")
	}
	mem, _ := large.Attr("occi.compute.memory")
	cores, _ := large.Attr("occi.compute.cores")
	if mem.Default == nil || mem.Default.S != "7.5" || cores.Default == nil || cores.Default.S != "2" || !cores.Immutable {
		t.Errorf("large: memory %+v cores %+v", mem, cores)
	}
	vlan, _ := func() (occi.AttributeDef, bool) {
		k, _ := md.Kind(occi.KindNetwork)
		return k.Attr("occi.network.vlan")
	}()
	if vlan.Type != "number" || vlan.Max == nil || *vlan.Max != 4095 {
		t.Errorf("vlan = %+v", vlan)
	}
	st, _ := func() (occi.AttributeDef, bool) {
		k, _ := md.Kind(occi.KindCompute)
		return k.Attr("occi.compute.state")
	}()
	if !st.Immutable || st.Pattern != "inactive|active|suspended|error" {
		t.Errorf("compute state = %+v", st)
	}
}

// The OpenNebula server's larger discovery parses too: its own mixins
// under opennebula.org schemes, a console link kind, site os templates.
func TestParseRecordedDiscoveryOpenNebula(t *testing.T) {
	body := occitest.MustBody(occitest.CassetteOpenNebula, "get", "/-/", "text/plain")
	msg, err := occi.ParsePlain([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	md := occi.ModelFrom(msg)
	if len(md.Kinds) != 9 || len(md.Mixins) != 17 || len(md.Actions) != 11 {
		t.Fatalf("kinds %d mixins %d actions %d", len(md.Kinds), len(md.Mixins), len(md.Actions))
	}
	if _, ok := md.Kind("http://schemas.ogf.org/occi/infrastructure/compute#console"); !ok {
		t.Error("console kind missing")
	}
	if n := len(md.MixinsRelatedTo(occi.MixinOSTpl)); n != 4 {
		t.Errorf("os templates = %d, want 4", n)
	}
	ni, _ := md.Kind(occi.KindNetworkInterface)
	if _, ok := ni.Attr("occi.networkinterface.address"); !ok {
		t.Error("OpenNebula declares the ip attributes on the networkinterface kind itself")
	}
}

// Discover against the fixture playing the recorded server: one service
// for the plain kinds and one per resource template, sized from the JSON
// discovery (offers round down: small's 1.7 GiB offers 1 GB).
func TestDiscoverAgainstRecordedServer(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	a, err := occi.New(occi.Config{Endpoint: srv.URL, Offer: occi.Offer{Cores: 8, Memory: 32, Storage: 500, Architecture: "x64"}})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := a.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 5 {
		t.Fatalf("%d services, want 5: %+v", len(svcs), svcs)
	}
	base := svcs[0]
	if base.ID != "occi" || base.IaaS == nil || base.IaaS.Compute == nil || *base.IaaS.Compute.Cores != 8 ||
		base.IaaS.Storage == nil || *base.IaaS.Storage.Size != 500 || base.IaaS.Network == nil ||
		base.IaaS.NetworkInterface == nil || base.IaaS.StorageLink == nil {
		t.Errorf("base service = %+v", base)
	}
	byID := map[string]int{}
	for i, s := range svcs {
		byID[s.ID] = i
	}
	want := map[string][3]uint64{"tpl-small": {1, 1, 1}, "tpl-medium": {2, 3, 1}, "tpl-large": {2, 7, 2}, "tpl-extra_large": {4, 15, 2}}
	for id, w := range want {
		i, ok := byID[id]
		if !ok {
			t.Errorf("service %s missing", id)
			continue
		}
		c := svcs[i].IaaS.Compute
		if *c.Cores != w[0] || *c.Memory != w[1] || *c.Speed != w[2] {
			t.Errorf("%s: cores %d memory %d speed %d, want %v", id, *c.Cores, *c.Memory, *c.Speed, w)
		}
	}
	if i := byID["tpl-large"]; *svcs[i].IaaS.Compute.Architecture != "x64" || svcs[i].URI != "http://my.occi.service/occi/infrastructure/resource_tpl#large" {
		t.Errorf("tpl-large = %+v", svcs[i])
	}
	// Discovery asked for text/plain, then for JSON.
	var accepts []string
	for _, r := range srv.Requests() {
		if r.Path == "/-/" {
			accepts = append(accepts, r.Accept)
		}
	}
	if len(accepts) != 2 || accepts[0] != "text/plain" || accepts[1] != "application/json" {
		t.Errorf("discovery requests accepted %v", accepts)
	}
}

// Discovery in text/occi: categories arrive in headers.
func TestDiscoverTextOCCI(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.OpenNebula})
	a, err := occi.New(occi.Config{Endpoint: srv.URL, Rendering: occi.MediaTextOCCI})
	if err != nil {
		t.Fatal(err)
	}
	md, err := a.Model(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Kinds) != 9 {
		t.Errorf("kinds = %d", len(md.Kinds))
	}
	svcs, err := a.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// OpenNebula's templates have no recorded JSON, so no known size: only
	// the base service.
	if len(svcs) != 1 {
		t.Errorf("services = %+v", svcs)
	}
}
