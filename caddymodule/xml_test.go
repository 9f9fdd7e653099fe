package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func TestXMLOptionParseErrors(t *testing.T) {
	for _, c := range []struct{ input, err string }{
		{`csb {
			xml bogus
		}`, `mode must be lenient or strict, not "bogus"`},
		{`csb {
			xml strict extra
		}`, "wrong argument count"},
		{`csb {
			xml {
				mode
			}
		}`, "wrong argument count"},
		{`csb {
			xml {
				mode sloppy
			}
		}`, `mode must be lenient or strict, not "sloppy"`},
		{`csb {
			xml {
				max_body_size lots
			}
		}`, `max_body_size: invalid size "lots"`},
		{`csb {
			xml {
				max_body_size 0
			}
		}`, `max_body_size: invalid size "0"`},
		{`csb {
			xml {
				max_depth -3
			}
		}`, `max_depth: "-3" is not a positive integer`},
		{`csb {
			xml {
				max_elements many
			}
		}`, `max_elements: "many" is not a positive integer`},
		{`csb {
			xml {
				max_attributes 4 5
			}
		}`, "wrong argument count"},
		{`csb {
			xml {
				max_xml_depth 4
			}
		}`, `xml: unrecognized option "max_xml_depth"`},
		{`csb {
			xml
			xml strict
		}`, "csb: xml given twice"},
		{`csb {
			xml lenient {
				mode strict
			}
		}`, "xml: mode given twice"},
	} {
		err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s\ngot %v, want an error containing %q", c.input, err, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("error %q does not name the file and line", err)
		}
	}
}

func TestXMLOptionParse(t *testing.T) {
	a := new(App)
	err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`csb {
		xml {
			mode strict
			max_body_size 64KiB
			max_depth 10
			max_elements 100
			max_attributes 4
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := XMLConfig{Mode: "strict", MaxBodySize: 64 << 10, MaxDepth: 10, MaxElements: 100, MaxAttributes: 4}
	if *a.XML != want {
		t.Fatalf("got %+v", *a.XML)
	}
}

func TestXMLValidate(t *testing.T) {
	for _, c := range []struct {
		x   *XMLConfig
		err string
	}{
		{nil, ""},
		{&XMLConfig{}, ""},
		{&XMLConfig{Mode: "strict", MaxBodySize: 1, MaxDepth: 1024, MaxElements: 1, MaxAttributes: 1}, ""},
		{&XMLConfig{Mode: "loose"}, `mode must be lenient or strict, not "loose"`},
		{&XMLConfig{MaxBodySize: -1}, "max_body_size must not be negative"},
		{&XMLConfig{MaxDepth: 1025}, "max_depth must be between 1 and 1024"},
		{&XMLConfig{MaxDepth: -1}, "max_depth"},
		{&XMLConfig{MaxElements: -1}, "max_elements must not be negative"},
		{&XMLConfig{MaxAttributes: -1}, "max_attributes must not be negative"},
	} {
		err := c.x.Validate()
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: got %v, want %q", c.x, err, c.err)
		}
		// The app validates its XML field.
		if err2 := (&App{XML: c.x}).Validate(); (err2 == nil) != (err == nil) {
			t.Errorf("App.Validate: %v, XMLConfig.Validate: %v", err2, err)
		}
	}
}

func TestXMLProvisionDefaults(t *testing.T) {
	x := new(XMLConfig)
	x.provision(zap.NewNop())
	if x.mode != csbmsg.Lenient || x.limits != (csbmsg.Limits{}).WithDefaults() || x.limits.MaxBytes != 1<<20 {
		t.Fatalf("got mode %v, limits %+v", x.mode, x.limits)
	}
	x = &XMLConfig{Mode: "strict", MaxBodySize: 10}
	x.provision(zap.NewNop())
	if x.mode != csbmsg.Strict || x.limits.MaxBytes != 10 || x.limits.MaxDepth != csbmsg.DefaultMaxDepth {
		t.Fatalf("got mode %v, limits %+v", x.mode, x.limits)
	}
}

const a1 = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish">
    <csbrequest>
        <subscription action="create" seqnumber="1" id="p0T65U">
            <expires>600</expires>
            <frequency>20</frequency>
        </subscription>
    </csbrequest>
</csbpublish>`

func newXML(t *testing.T, x *XMLConfig) (*XMLConfig, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	x.provision(zap.New(core))
	return x, logs
}

func publishRequest(body string, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/csb/publish", strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

func TestReadBody(t *testing.T) {
	x, _ := newXML(t, &XMLConfig{MaxBodySize: 1000})
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
		err    string
	}{
		{"ok", publishRequest(a1, "Content-Type", "application/csb-publish+xml"), 0, ""},
		{"ok with parameters", publishRequest(a1, "Content-Type", `Application/CSB-Publish+XML; charset="utf-8"; x=y`), 0, ""},
		{"draft A2 charset", publishRequest(a1, "Content-Type", "application/csb-publish+xml;charset=ISO-8859-1"), 0, ""},
		{"no content type", publishRequest(a1), 415, "missing Content-Type, want application/csb-publish+xml"},
		{"wrong type", publishRequest(a1, "Content-Type", "application/xml"), 415, "Content-Type application/xml, want application/csb-publish+xml"},
		{"other package", publishRequest(a1, "Content-Type", "application/csb-consumer+xml"), 415, "want application/csb-publish+xml"},
		{"malformed", publishRequest(a1, "Content-Type", "application/csb-publish+xml; charset"), 415, "malformed Content-Type"},
		{"charset", publishRequest(a1, "Content-Type", "application/csb-publish+xml; charset=utf-16"), 415, `unsupported charset "utf-16"`},
		{"gzip", publishRequest(a1, "Content-Type", "application/csb-publish+xml", "Content-Encoding", "gzip"), 415, `unsupported Content-Encoding "gzip"`},
		{"too large", publishRequest(strings.Repeat(" ", 1001), "Content-Type", "application/csb-publish+xml"), 413, "exceeds max_body_size (1000 bytes)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			body, _, err := x.readBody(w, c.req, csbmsg.PublishMediaType)
			if c.status == 0 {
				if err != nil || string(body) != a1 {
					t.Fatalf("got %v", err)
				}
				return
			}
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) || he.StatusCode != c.status || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got %v, want %d %q", err, c.status, c.err)
			}
		})
	}

	// A body without Content-Length is cut by http.MaxBytesReader.
	r := publishRequest("", "Content-Type", "application/csb-publish+xml")
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader(a1), strings.NewReader(strings.Repeat(" ", 1000))))
	r.ContentLength = -1
	_, _, err := x.readBody(httptest.NewRecorder(), r, csbmsg.PublishMediaType)
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != 413 {
		t.Fatalf("streamed: got %v", err)
	}
}

func TestReadPublish(t *testing.T) {
	x, _ := newXML(t, &XMLConfig{})
	p, err := x.readPublish(httptest.NewRecorder(), publishRequest(a1, "Content-Type", "application/csb-publish+xml"))
	if err != nil || p.Request.Subscription.ID != "p0T65U" {
		t.Fatalf("got %+v, %v", p, err)
	}
	_, err = x.readPublish(httptest.NewRecorder(), publishRequest(strings.Replace(a1, `"1"`, `"one"`, 1), "Content-Type", "application/csb-publish+xml"))
	var ce *csbmsg.Error
	if !errors.As(err, &ce) || ce.Status != csbmsg.StatusSyntaxError {
		t.Fatalf("got %v", err)
	}
	// The charset parameter reaches the codec.
	latin := "<?xml version=\"1.0\" encoding=\"UTF-8\"?><csbpublish xmlns=\"urn:ietf:params:xml:ns:csb-publish\" version=\"1.0\"><csbresponse status=\"200\" reason=\"caf\xe9\"/></csbpublish>"
	_, err = x.readPublish(httptest.NewRecorder(), publishRequest(latin, "Content-Type", "application/csb-publish+xml; charset=iso-8859-1"))
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "conflicts with XML declaration") {
		t.Fatalf("got %v", err)
	}
	latin = strings.Replace(latin, `encoding="UTF-8"`, `encoding="latin1"`, 1)
	p, err = x.readPublish(httptest.NewRecorder(), publishRequest(latin, "Content-Type", "application/csb-publish+xml; charset=iso-8859-1"))
	if err != nil || p.Response.Reason != "café" {
		t.Fatalf("got %+v, %v", p, err)
	}
}

func TestReadConsumerStrict(t *testing.T) {
	x, logs := newXML(t, &XMLConfig{Mode: "strict"})
	body := `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0"><CloudServiceRequest><IaaS><Network/></IaaS></CloudServiceRequest></csbconsumer>`
	r := httptest.NewRequest(http.MethodPost, "/csb/consumer", strings.NewReader(body))
	r.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	_, err := x.readConsumer(httptest.NewRecorder(), r)
	var ce *csbmsg.Error
	if !errors.As(err, &ce) || ce.Status != csbmsg.StatusUnsupported {
		t.Fatalf("got %v", err)
	}
	if logs.Len() != 0 {
		t.Fatalf("strict mode logged %v", logs.All())
	}
}

// TestAliasLoggedOncePerPeer: lenient mode logs each alias spelling once
// per peer (user or IP).
func TestAliasLoggedOncePerPeer(t *testing.T) {
	x, logs := newXML(t, &XMLConfig{})
	body := `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0"><CloudServiceRequest><IaaS><Network/><Storage/></IaaS></CloudServiceRequest></csbconsumer>`
	send := func(remote, user string) {
		r := httptest.NewRequest(http.MethodPost, "/csb/consumer", strings.NewReader(body))
		r.RemoteAddr = remote
		r.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
		if user != "" {
			repl := caddy.NewReplacer()
			repl.Set("http.auth.user.id", user)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		}
		if _, err := x.readConsumer(httptest.NewRecorder(), r); err != nil {
			t.Fatal(err)
		}
	}
	send("192.0.2.1:1000", "")
	send("192.0.2.1:2000", "") // same IP, other port: same peer
	if logs.Len() != 2 {
		t.Fatalf("want 2 log entries (Network, Storage), got %d", logs.Len())
	}
	e := logs.All()[0]
	if e.Message != "alias spelling accepted" || e.ContextMap()["peer"] != "ip 192.0.2.1" ||
		e.ContextMap()["alias"] != "Network" || e.ContextMap()["canonical"] != "network" || e.LoggerName != "xml" {
		t.Fatalf("got %+v %v", e, e.ContextMap())
	}
	send("192.0.2.2:1000", "")
	send("192.0.2.1:1000", "alice") // authenticated: the user is the peer
	send("192.0.2.9:1000", "alice")
	if logs.Len() != 6 {
		t.Fatalf("want 6 log entries, got %d", logs.Len())
	}
	if logs.All()[4].ContextMap()["peer"] != "user alice" {
		t.Fatalf("got %v", logs.All()[4].ContextMap())
	}
}

func TestAliasOnceBounded(t *testing.T) {
	a := newAliasOnce(2)
	if !a.first("p", "x") || a.first("p", "x") || !a.first("p", "y") || !a.first("q", "x") {
		t.Fatal("wrong first answers")
	}
	// Capacity 2: ("p","x") was forgotten when ("q","x") came in.
	if len(a.seen) != 2 || !a.first("p", "x") {
		t.Fatalf("not bounded: %v", a.seen)
	}
	if a.first("q", "x") {
		t.Fatal("forgot the newest entry")
	}
}

func TestPeerOfClientIP(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.1:5"
	if got := peerOf(r); got != "ip 10.0.0.1" {
		t.Fatalf("got %q", got)
	}
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"})
	if got := peerOf(r.WithContext(ctx)); got != "ip 203.0.113.7" {
		t.Fatalf("got %q", got)
	}
}

func TestCheckAccept(t *testing.T) {
	for accept, ok := range map[string]bool{
		"":                            true,
		"*/*":                         true,
		"application/*":               true,
		"application/csb-publish+xml": true,
		"text/html, application/csb-publish+xml;q=0.5": true,
		"application/xml":                 true, // a +xml type is XML (RFC 7303)
		"application/csb-publish+xml;q=0": false,
		"text/*":                          false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		err := checkAccept(r, csbmsg.PublishMediaType)
		var he caddyhttp.HandlerError
		if ok != (err == nil) || err != nil && (!errors.As(err, &he) || he.StatusCode != 406) {
			t.Errorf("Accept %q: got %v", accept, err)
		}
	}
}

func TestReadPublishResponse(t *testing.T) {
	x, _ := newXML(t, &XMLConfig{MaxBodySize: 2000})
	resp := func(ct, body string) *http.Response {
		return &http.Response{Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(strings.NewReader(body))}
	}
	a2 := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish">
        <csbresponse status="200" reason="OK: Request accepted"/>
</csbpublish>`
	p, err := x.readPublishResponse(resp("application/csb-publish+xml;charset=ISO-8859-1", a2), "csp1")
	if err != nil || p.Response.Status != 200 {
		t.Fatalf("got %+v, %v", p, err)
	}
	if _, err := x.readPublishResponse(resp("text/html", a2), "csp1"); err == nil || !strings.Contains(err.Error(), "provider csp1: Content-Type text/html") {
		t.Fatalf("got %v", err)
	}
	if _, err := x.readPublishResponse(resp("application/csb-publish+xml", a2+strings.Repeat(" ", 2000)), "csp1"); err == nil || !strings.Contains(err.Error(), "exceeds 2000 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestWriteMessage(t *testing.T) {
	w := httptest.NewRecorder()
	if err := writeMessage(w, csbmsg.ConsumerMediaType, []byte("<x/>")); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/csb-consumer+xml; charset=utf-8" ||
		w.Header().Get("Content-Length") != "4" || w.Body.String() != "<x/>" {
		t.Fatalf("got %d %v %q", w.Code, w.Header(), w.Body)
	}
}

// TestReadAllSized: whatever length is announced, the whole body is read,
// as io.ReadAll reads it, and a read error is returned.
func TestReadAllSized(t *testing.T) {
	body := bytes.Repeat([]byte("<csbpublish/>"), 700)
	for _, announced := range []int64{-1, 0, 1, 100, int64(len(body)) - 1, int64(len(body)), int64(len(body)) + 1, 4 * int64(len(body))} {
		for name, r := range map[string]func() io.Reader{
			"whole":    func() io.Reader { return bytes.NewReader(body) },
			"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) },
			"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(body)) },
		} {
			got, err := readAllSized(r(), announced)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("%s, %d announced: %d bytes, %v; want all %d", name, announced, len(got), err, len(body))
			}
		}
	}
	// A large announced length allocates no more than presizeCap before
	// the bytes arrive.
	if got, _ := readAllSized(strings.NewReader("x"), 1<<30); cap(got) > presizeCap+1 {
		t.Errorf("1 byte read with 1 GiB announced: a buffer of %d bytes", cap(got))
	}
	boom := errors.New("boom")
	if _, err := readAllSized(iotest.ErrReader(boom), 10); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	// Buffers handed back are reused: a shorter body read into one holds
	// that body only, whatever the buffer held before.
	for i := range 50 {
		long, err := readAllSized(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		releaseBody(long)
		short := body[:100+i]
		got, err := readAllSized(bytes.NewReader(short), int64(len(short)))
		if err != nil || !bytes.Equal(got, short) {
			t.Fatalf("after a release: %q, %v; want %q", got, err, short)
		}
		releaseBody(got)
	}
	releaseBody(nil) // a no-op
}
