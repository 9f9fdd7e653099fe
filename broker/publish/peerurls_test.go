package publish

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestPeerURLsRefuseNotification: a notification naming a URL the
// provider's CheckURL refuses (Cloud-Service-Provider-URI,
// Cloud-Service-URI, a Link href) is refused whole with 402 and a reason
// naming the URL; nothing enters the catalogue and the seqnumber is not
// consumed. Relative references and URNs are left alone.
func TestPeerURLsRefuseNotification(t *testing.T) {
	ing, cat, _ := newIngest(t, clock.NewFake(t0))
	var seen []string
	check := func(u *url.URL) error {
		seen = append(seen, u.String())
		if u.Host != "provider.example.org" {
			return errors.New("host not allowed: " + u.Host)
		}
		return nil
	}
	if err := ing.Configure(true, map[string]Policy{"a": {Publishers: []string{"alice"}, CheckURL: check}}); err != nil {
		t.Fatal(err)
	}
	saas := func(href string) csbmsg.Service {
		return csbmsg.Service{ID: "crm", Status: csbmsg.ServiceActive, SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: href}}}
	}
	for _, c := range []struct {
		name, where, url string
		edit             func(n *csbmsg.Notification)
	}{
		{"provider uri", "Cloud-Service-Provider-URI", "http://127.0.0.1:2019/", func(n *csbmsg.Notification) { n.Provider.URI = "http://127.0.0.1:2019/" }},
		{"service uri", "Cloud-Service-URI of service x", "http://169.254.169.254/latest", func(n *csbmsg.Notification) { n.Services[0].URI = "http://169.254.169.254/latest" }},
		{"saas link", "Link href of service crm", "http://127.0.0.1:2019/config/", func(n *csbmsg.Notification) {
			n.Services = append(n.Services, saas("http://127.0.0.1:2019/config/"))
		}},
		{"odd scheme with a host", "Link href of service crm", "gopher://127.0.0.1:2019/", func(n *csbmsg.Notification) {
			n.Services = append(n.Services, saas("gopher://127.0.0.1:2019/"))
		}},
	} {
		n := notif("sub-a", 1, "a", "x")
		c.edit(n)
		r := ing.Ingest(n, "alice")
		if r.Response.Status != csbmsg.StatusCannotUpdate || r.Outcome != OutcomeRefused ||
			!strings.Contains(r.Response.Reason, c.where) || !strings.Contains(r.Response.Reason, "not allowed") {
			t.Errorf("%s: got %d %q, want 402 naming %s", c.name, r.Response.Status, r.Response.Reason, c.where)
		}
	}
	if v := cat.Version(); v != 0 || placeable(cat) != "" {
		t.Fatalf("a refused notification changed the catalogue (version %d)", v)
	}
	seen = nil
	n := notif("sub-a", 1, "a", "x")
	n.Provider.URI = "urn:example:csp"
	n.Services[0].URI = "........."
	n.Services = append(n.Services, saas("https://provider.example.org/crm"))
	if r := ing.Ingest(n, "alice"); r.Outcome != OutcomeApplied {
		t.Fatalf("allowed notification: %+v", r)
	}
	if len(seen) != 1 || seen[0] != "https://provider.example.org/crm" {
		t.Fatalf("checked %v, want only the network URL", seen)
	}
}
