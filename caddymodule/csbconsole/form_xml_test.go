package csbconsole

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestConsoleFormRefusesWhatXMLCannotCarry: a field the draft's XML
// cannot carry (an objectID with a space is not an NMTOKEN, a control
// character is no XML character, an href that is no URI reference) is
// named on the form. The form built the request anyway: the explain page
// showed no XML and "Create the job" made a job the Consumer interface
// would have refused at its parser, and whose answer it then cannot
// serialise (500 on every GET of the job).
func TestConsoleFormRefusesWhatXMLCannotCarry(t *testing.T) {
	for _, c := range []struct{ query, field string }{
		{"kind=dsaas&container=my+box", "container"},
		{"kind=dsaas&object=my+notes.txt&content=hi", "object"},
		{"kind=dsaas&object=a&content=bell%07", "content"},
		{"kind=dsaas&object=a&mimetype=text%01plain&content=x", "mimetype"},
		{"kind=saas&rel=%00", "rel"},
		{"kind=paas&rel=x&href=not+a+uri+%01", "href"},
	} {
		v, _ := url.ParseQuery(c.query)
		f := readForm(v)
		req := f.build()
		if req != nil {
			_, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req})
			t.Errorf("%s: built a request (the XML codec says: %v), errors %v", c.query, err, f.Errors)
			continue
		}
		if f.Errors[c.field] == "" {
			t.Errorf("%s: errors %v, want one on %s", c.query, f.Errors, c.field)
		}
	}
	// What the codec takes still builds.
	for _, q := range []string{"kind=dsaas&container=box-1&object=a.txt&mimetype=text/plain&content=tab%09and%0Anewline", "kind=saas&rel=crm+app&href=https://crm.example/a%20b"} {
		v, _ := url.ParseQuery(q)
		f := readForm(v)
		if f.build() == nil {
			t.Errorf("%s: refused: %v", q, f.Errors)
		}
	}
}

// TestConsoleFormContentErrorShown: a problem with the object's content
// (too long, or a character XML cannot carry) is named beside the
// textarea, as every other field's is; the page said only "Some fields
// need fixing" with nothing marked.
func TestConsoleFormContentErrorShown(t *testing.T) {
	ps, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := url.ParseQuery("kind=dsaas&object=a&content=" + strings.Repeat("x", maxFieldBytes+1))
	f := readForm(v)
	if f.build() != nil {
		t.Fatal("built")
	}
	w := httptest.NewRecorder()
	if err := ps.render(w, http.StatusBadRequest, "new", &page{Title: "New request", Nav: "new", Alert: "Some fields need fixing.",
		Data: &newView{Form: f, Kinds: kinds}}); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if !strings.Contains(body, `id="content-error"`) || !strings.Contains(body, html.EscapeString(f.Errors["content"])) ||
		!strings.Contains(body, `aria-describedby="content-error"`) {
		t.Errorf("the content's error %q is not on the page", f.Errors["content"])
	}
}
