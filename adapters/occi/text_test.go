package occi

import (
	"net/http"
	"strings"
	"testing"
)

func TestParsePlainEntityAsRecorded(t *testing.T) {
	// Shape of the recorded rOCCI compute rendering: no spaces after
	// semicolons, link attributes separated by spaces.
	body := `Category: compute;scheme="http://schemas.ogf.org/occi/infrastructure#";class="kind"
Category: small;scheme="https://occi.localhost/occi/infrastructure/resource_tpl#";class="mixin"
X-OCCI-Attribute: occi.core.id="6c5f673c"
X-OCCI-Attribute: occi.core.title="My \"quoted\" VM"
X-OCCI-Attribute: occi.compute.cores=1
X-OCCI-Attribute: occi.compute.memory=0.256
Link: </storage/e60a>;rel="http://schemas.ogf.org/occi/infrastructure#storage";self="/storagelink/b2f7";category="http://schemas.ogf.org/occi/infrastructure#storagelink";occi.core.id="b2f7" occi.core.title="monitoring" occi.storagelink.deviceid="xvda" occi.storagelink.state="inactive"

`
	m, err := ParsePlain([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := m.Kind()
	if !ok || k.ID() != KindCompute {
		t.Fatalf("kind = %+v", k)
	}
	if len(m.Categories) != 2 || m.Categories[1].Class != ClassMixin {
		t.Fatalf("categories = %+v", m.Categories)
	}
	if v, _ := m.Attributes.Get("occi.core.title"); v.S != `My "quoted" VM` || !v.Quoted {
		t.Errorf("title = %+v", v)
	}
	if v, _ := m.Attributes.Get("occi.compute.memory"); v.S != "0.256" || v.Quoted {
		t.Errorf("memory = %+v", v)
	}
	if len(m.Links) != 1 {
		t.Fatalf("links = %+v", m.Links)
	}
	l := m.Links[0]
	if l.Target != "/storage/e60a" || l.Self != "/storagelink/b2f7" || l.Category != KindStorageLink {
		t.Errorf("link = %+v", l)
	}
	if v, _ := l.Attributes.Get("occi.storagelink.deviceid"); v.S != "xvda" {
		t.Errorf("deviceid = %+v (attrs %v)", v, l.Attributes.Names())
	}
	if l.Attributes.Len() != 4 {
		t.Errorf("link attributes = %v", l.Attributes.Names())
	}
}

func TestParseHeadersCommaSeparated(t *testing.T) {
	h := http.Header{}
	h.Add("Category", `compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind", os_tpl; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="mixin"; title="a, b"`)
	h.Add("X-OCCI-Attribute", `occi.compute.cores=2, occi.compute.hostname="a,b"`)
	h.Add("X-OCCI-Location", `http://h/compute/1, http://h/compute/2`)
	h.Add("Link", `</network/1>; rel="http://schemas.ogf.org/occi/infrastructure#network"; self="/link/ni/1"; occi.networkinterface.interface="eth0", </compute/1?action=stop>; rel="http://schemas.ogf.org/occi/infrastructure/compute/action#stop"`)
	m, err := ParseHeaders(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Categories) != 2 || m.Categories[1].Title != "a, b" {
		t.Fatalf("categories = %+v", m.Categories)
	}
	if v, _ := m.Attributes.Get("occi.compute.hostname"); v.S != "a,b" {
		t.Errorf("hostname = %+v", v)
	}
	if len(m.Locations) != 2 {
		t.Errorf("locations = %v", m.Locations)
	}
	if len(m.Links) != 2 || m.Links[0].IsAction() || !m.Links[1].IsAction() {
		t.Errorf("links = %+v", m.Links)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	m := &Message{Categories: []Category{{Term: "compute", Scheme: SchemeInfra, Class: ClassKind}}}
	m.Attributes.Set("occi.compute.cores", Int(4))
	m.Attributes.Set("occi.compute.memory", Num(1.5))
	m.Attributes.Set("occi.core.title", Str("back\\slash \"q\""))
	var l Link
	l.Target, l.Rel, l.Category = "/network/1", KindNetwork, KindNetworkInterface
	l.Attributes.Set("occi.networkinterface.interface", Str("eth0"))
	m.Links = []Link{l}

	for _, how := range []string{"plain", "headers"} {
		var got *Message
		var err error
		if how == "plain" {
			got, err = ParsePlain(m.RenderPlain())
		} else {
			h := http.Header{}
			m.RenderHeaders(h)
			got, err = ParseHeaders(h)
		}
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		for _, n := range m.Attributes.Names() {
			w, _ := m.Attributes.Get(n)
			g, _ := got.Attributes.Get(n)
			if w != g {
				t.Errorf("%s: %s = %+v, want %+v", how, n, g, w)
			}
		}
		if len(got.Links) != 1 || got.Links[0].Target != "/network/1" || got.Links[0].Category != KindNetworkInterface {
			t.Errorf("%s: links = %+v", how, got.Links)
		}
	}
	plain := string(m.RenderPlain())
	if !strings.Contains(plain, `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`) ||
		!strings.Contains(plain, "X-OCCI-Attribute: occi.compute.cores=4\n") ||
		!strings.Contains(plain, "X-OCCI-Attribute: occi.compute.memory=1.5\n") {
		t.Errorf("rendering:\n%s", plain)
	}
}

func TestParseCategoryAttributeFlags(t *testing.T) {
	m, err := ParsePlain([]byte(`Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"; location="/compute/"; attributes="occi.compute.cores occi.compute.state{immutable} occi.core.id{required immutable}"; actions="http://schemas.ogf.org/occi/infrastructure/compute/action#start"`))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Categories[0]
	st, _ := c.Attr("occi.compute.state")
	id, _ := c.Attr("occi.core.id")
	if len(c.Attributes) != 3 || !st.Immutable || st.Required || !id.Required || !id.Immutable || c.Location != "/compute/" || len(c.Actions) != 1 {
		t.Fatalf("category = %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	for _, body := range []string{
		`Category: compute`,                           // no scheme/class
		`Category: compute; scheme="x#; class="kind"`, // unterminated
		`X-OCCI-Attribute: noequals`,
		`Link: /compute/1; rel="x"`,
	} {
		if _, err := ParsePlain([]byte(body)); err == nil {
			t.Errorf("ParsePlain(%q) succeeded", body)
		}
	}
}
