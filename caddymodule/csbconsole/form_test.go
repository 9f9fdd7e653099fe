package csbconsole

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRequestForm(t *testing.T) {
	for _, c := range []struct {
		name   string
		query  string
		errors []string // fields with problems
		xml    []string // in the draft's XML
		lease  time.Duration
	}{
		{"iaas", "kind=iaas&arch=x86_64&cores=2&memory=4&storage=20&lease=90", nil,
			[]string{"<architecture>x86_64</architecture>", "<cores>2</cores>", "<memory>4</memory>", "<size>20</size>"}, 90 * time.Minute},
		{"iaas by default", "cores=1", nil, []string{"<IaaS>", "<cores>1</cores>"}, 0},
		{"iaas asks for nothing", "kind=iaas", []string{"cores"}, nil, 0},
		{"zero cores", "kind=iaas&cores=0", []string{"cores"}, nil, 0},
		{"words for memory", "kind=iaas&cores=1&memory=lots", []string{"memory"}, nil, 0},
		{"unknown arch", "kind=iaas&arch=z80", []string{"arch"}, nil, 0},
		{"bad lease", "kind=iaas&cores=1&lease=-5", []string{"lease"}, nil, 0},
		{"dsaas", "kind=dsaas&object=a.txt&mimetype=text/plain&content=hi", nil,
			[]string{"<DSaaS>", "<ContainerObject", "<DataObject>", "<objectID>a.txt</objectID>", "<value>hi</value>"}, 0},
		{"dsaas content without a name", "kind=dsaas&content=hi", []string{"object"}, nil, 0},
		{"saas", "kind=saas&rel=mail", nil, []string{"<SaaS>", "<rel>mail</rel>"}, 0},
		{"paas without link", "kind=paas", []string{"rel"}, nil, 0},
		{"unknown kind", "kind=xaas", []string{"kind"}, nil, 0},
		{"encryption", "kind=iaas&cores=1&encryption=on", nil, []string{"<encryption>true</encryption>"}, 0},
		{"content too long", "kind=dsaas&object=a&content=" + strings.Repeat("x", maxFieldBytes+1), []string{"content"}, nil, 0},
	} {
		v, _ := url.ParseQuery(c.query)
		f := readForm(v)
		req := f.build()
		var got []string
		for k := range f.Errors {
			got = append(got, k)
		}
		if strings.Join(got, ",") != strings.Join(c.errors, ",") {
			t.Errorf("%s: errors %v, want %v", c.name, f.Errors, c.errors)
			continue
		}
		if c.errors != nil {
			if req != nil {
				t.Errorf("%s: a request despite errors", c.name)
			}
			continue
		}
		x := xmlOf(req)
		for _, w := range c.xml {
			if !strings.Contains(x, w) {
				t.Errorf("%s: the XML lacks %s:\n%s", c.name, w, x)
			}
		}
		if l := f.lease(); l != c.lease {
			t.Errorf("%s: lease %v, want %v", c.name, l, c.lease)
		}
		// The hidden fields carry the same request.
		back := url.Values{}
		for _, kv := range f.Hidden() {
			back.Set(kv[0], kv[1])
		}
		if again := xmlOf(readForm(back).build()); again != x {
			t.Errorf("%s: the hidden fields build another request:\n%s\n%s", c.name, again, x)
		}
	}
}

func TestDrawChart(t *testing.T) {
	e := &explanation{Kind: "IaaS", Policy: "cheapest", Chosen: "a", Candidates: []candidate{
		{Provider: "a", Matched: true, Chosen: true, Rank: 1, Score: "0.02", score: 0.02, hasScore: true},
		{Provider: "b", Matched: true, Rank: 2, Score: "0.05", score: 0.05, hasScore: true},
		{Provider: "c", Note: "offers no IaaS service with 64 cores: the largest has 8 and that is far too few"},
	}}
	ch := drawChart(e)
	if len(ch.Rows) != 3 || ch.Height < 3*chartRowHeight {
		t.Fatalf("rows %d, height %d", len(ch.Rows), ch.Height)
	}
	a, b, c := ch.Rows[0], ch.Rows[1], ch.Rows[2]
	if a.Class != "bar-chosen" || b.Class != "bar-match" || c.Class != "bar-rejected" {
		t.Errorf("classes %s %s %s", a.Class, b.Class, c.Class)
	}
	if !(a.BarWidth < b.BarWidth && b.BarWidth == chartBarMax) || c.BarWidth != 0 {
		t.Errorf("widths %d %d %d", a.BarWidth, b.BarWidth, c.BarWidth)
	}
	if !strings.HasPrefix(c.FullText, "rejected: offers no IaaS") || len([]rune(c.Text)) > chartTextMax || !strings.HasSuffix(c.Text, "…") {
		t.Errorf("rejected row: %q / %q", c.Text, c.FullText)
	}
	if a.Y == b.Y || b.Y == c.Y {
		t.Error("rows overlap")
	}
}
