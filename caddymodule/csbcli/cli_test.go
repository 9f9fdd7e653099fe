package csbcli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func TestNetrc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "netrc")
	content := `# comment
machine other login x password y
machine broker.example login alice password "pa ss\"word"
machine broker.example login bob password builder
macdef init
  machine broker.example login eve password evil

default login anon password anon-pw
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host, user, login, password string
		found                       bool
	}{
		{"broker.example", "", "alice", `pa ss"word`, true},
		{"BROKER.example", "bob", "bob", "builder", true},
		{"broker.example", "eve", "", "", false}, // eve only in a macro, and not the default's login
		{"elsewhere", "anon", "anon", "anon-pw", true},
		{"elsewhere", "", "anon", "anon-pw", true},
	} {
		login, pw, found, err := netrcLookup(path, c.host, c.user)
		if err != nil || found != c.found || login != c.login || pw != c.password {
			t.Errorf("%s %s: got %q %q %v %v", c.host, c.user, login, pw, found, err)
		}
	}
	if _, _, found, err := netrcLookup(filepath.Join(t.TempDir(), "none"), "h", ""); found || err != nil {
		t.Errorf("missing file: %v %v", found, err)
	}
	if _, err := parseNetrc(strings.NewReader(`machine h password "open`)); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestConsumerURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "https://localhost:8443/csb/consumer",
		"https://b.example":                  "https://b.example/csb/consumer",
		"https://b.example/":                 "https://b.example/csb/consumer",
		"http://127.0.0.1:8080/x/consumer/":  "http://127.0.0.1:8080/x/consumer",
		"https://b.example/csb/consumer?a#f": "https://b.example/csb/consumer",
		"localhost:9443":                     "https://localhost:9443/csb/consumer",
	} {
		u, err := consumerURL(in)
		if err != nil || u.String() != want {
			t.Errorf("%q: got %v %v, want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"ftp://x", "https://", "https://alice:pw@b.example"} {
		if _, err := consumerURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := consumerURL("https://alice:secret@b.example"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a password in the URL is echoed: %v", err)
	}
}

func TestRequestFromFlags(t *testing.T) {
	obj := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(obj, []byte("hello <world> & co"), 0o600)
	cases := []struct {
		model string
		f     requestFlags
		want  []string // in the XML
		err   string
	}{
		{"iaas", requestFlags{cores: 2, memory: 4, storage: 20, arch: "x86_64", encryption: true},
			[]string{"<architecture>x86_64</architecture>", "<cores>2</cores>", "<memory>4</memory>", "<storage>", "<size>20</size>", "<encryption>true</encryption>"}, ""},
		{"IaaS", requestFlags{storage: 5}, []string{"<size>5</size>"}, ""},
		{"dsaas", requestFlags{container: "box", object: obj},
			[]string{"<ContainerObject>", "<objectID>box</objectID>", "<DataObject>", "<mimetype>text/plain; charset=utf-8</mimetype>", "<objectID>note.txt</objectID>", "<value>hello &lt;world&gt; &amp; co</value>"}, ""},
		{"dsaas", requestFlags{}, []string{"<ContainerObject/>"}, ""},
		{"saas", requestFlags{rel: "crm", href: "https://crm.example/"}, []string{"<SaaS>", "<rel>crm</rel>", "<href>https://crm.example/</href>"}, ""},
		{"paas", requestFlags{rel: "python"}, []string{"<PaaS>", "<rel>python</rel>"}, ""},
		{"iaas", requestFlags{}, nil, "give at least one of"},
		{"iaas", requestFlags{cores: 1, rel: "x"}, nil, "--rel does not apply to iaas"},
		{"saas", requestFlags{}, nil, "give --rel"},
		{"dsaas", requestFlags{cores: 1}, nil, "--cores does not apply"},
		{"xaas", requestFlags{}, nil, "unknown service model"},
		{"", requestFlags{}, nil, "name a service model"},
	}
	for _, c := range cases {
		data, err := c.f.build(c.model)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %+v: got %v, want %q", c.model, c.f, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %+v: %v", c.model, c.f, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s: no %s in\n%s", c.model, w, data)
			}
		}
		// What the CLI sends is a request the broker's own parser takes.
		if msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{Mode: csbmsg.Strict}); err != nil || msg.Request == nil {
			t.Errorf("%s: the broker would refuse it: %v\n%s", c.model, err, data)
		}
	}

	// --file is sent as it is, once it is known to be a create request.
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xml")
	os.WriteFile(good, []byte(`<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0"><CloudServiceRequest><SaaS><Link><rel>a</rel></Link></SaaS></CloudServiceRequest></csbconsumer>`), 0o600)
	if data, err := (&requestFlags{file: good}).build(""); err != nil || !bytes.Contains(data, []byte(`<Link><rel>a</rel></Link>`)) {
		t.Errorf("--file: %v %s", err, data)
	}
	if _, err := (&requestFlags{file: good}).build("iaas"); err == nil {
		t.Error("--file with a service model accepted")
	}
	jobInfo := filepath.Join(dir, "update.xml")
	os.WriteFile(jobInfo, []byte(`<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0"><CloudServiceRequest><job-info><job-id>j</job-id><action>remove</action></job-info></CloudServiceRequest></csbconsumer>`), 0o600)
	if _, err := (&requestFlags{file: jobInfo}).build(""); err == nil || !strings.Contains(err.Error(), "without <job-info>") {
		t.Errorf("--file with job-info: %v", err)
	}
}

func TestLeaseSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "", time.Hour: "3600", 1500 * time.Millisecond: "2"} {
		if got, err := leaseSeconds(d); err != nil || got != want {
			t.Errorf("%v: %q %v", d, got, err)
		}
	}
	if _, err := leaseSeconds(-time.Second); err == nil {
		t.Error("negative lease accepted")
	}
}

// fakeJobs is a Consumer interface with one job that is pending for the
// first polls. With longPoll false it refuses ?wait (HTTP 400), as a
// broker may that knows the parameter under another form.
type fakeJobs struct {
	mu       sync.Mutex
	longPoll bool
	pending  int // polls left before success
	queries  []string
}

func (f *fakeJobs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, r.URL.RawQuery)
	if r.URL.Query().Has("wait") && !f.longPoll {
		http.Error(w, "bad wait", http.StatusBadRequest)
		return
	}
	status := "success"
	if f.pending > 0 {
		f.pending--
		status = "provisioning"
	}
	body, _ := csbmsg.MarshalConsumer(&csbmsg.Consumer{Response: &csbmsg.ServiceResponse{Status: 200, Reason: "r",
		JobInfo: &csbmsg.ResponseJobInfo{JobID: "j1", JobStatus: status, Expires: 60}}})
	w.Header().Set("Content-Type", csbmsg.ConsumerMediaType)
	w.Write(body)
}

func TestFollowDegradesToPolling(t *testing.T) {
	for _, longPoll := range []bool{true, false} {
		f := &fakeJobs{longPoll: longPoll, pending: 2}
		srv := httptest.NewServer(f)
		base, _ := url.Parse(srv.URL + "/csb/consumer")
		cl := &client{base: base, http: srv.Client(), user: "u"}
		var stderr bytes.Buffer
		c := &cli{stderr: &stderr, pollMin: time.Millisecond, pollMax: time.Millisecond}
		first := &answer{Resp: &csbmsg.ServiceResponse{Status: 200, JobInfo: &csbmsg.ResponseJobInfo{JobID: "j1", JobStatus: "pending"}}}
		a, err := c.follow(context.Background(), cl, first)
		srv.Close()
		if err != nil || a.Resp.JobInfo.JobStatus != "success" {
			t.Fatalf("longPoll %v: %v %+v", longPoll, err, a)
		}
		// Every poll asks for the long-poll until the broker refuses it,
		// then none does.
		want := []string{"wait=30s", "wait=30s", "wait=30s"}
		if !longPoll {
			want = []string{"wait=30s", "", "", ""}
		}
		if strings.Join(f.queries, ",") != strings.Join(want, ",") {
			t.Errorf("longPoll %v: queries %q, want %q", longPoll, f.queries, want)
		}
		if got := stderr.String(); !strings.Contains(got, "job j1: pending") || !strings.Contains(got, "job j1: provisioning") || !strings.Contains(got, "job j1: success") {
			t.Errorf("progress lines:\n%s", got)
		}
	}
}

// TestDashedIDAfterDoubleDash: an id that begins with '-' (ids of a broker
// before they stopped doing so) reaches the broker when it follows "--",
// and without "--" the error says how to pass it.
func TestDashedIDAfterDoubleDash(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		(&fakeJobs{longPoll: true}).ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("CSB_PASSWORD", "pw")
	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		root := &cobra.Command{Use: "csb", SilenceErrors: true, SilenceUsage: true}
		setupCLI(root, &cli{stdout: &stdout, stderr: &stderr, pollMin: time.Millisecond, pollMax: time.Millisecond})
		root.SetArgs(append([]string{"--broker", srv.URL, "--user", "u", "--netrc", filepath.Join(t.TempDir(), "none")}, args...))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		return stderr.String(), err
	}
	if stderr, err := run("move", "--json", "--", "-aHdqUu2XYIjuNMDJPtKUA"); err != nil {
		t.Fatalf("move -- -id: %v\n%s", err, stderr)
	}
	mu.Lock()
	got := strings.Join(paths, ",")
	mu.Unlock()
	if got != "MOVE /csb/consumer/-aHdqUu2XYIjuNMDJPtKUA" {
		t.Fatalf("requests %q, want the MOVE of the dashed id", got)
	}
	stderr, err := run("move", "-aHdqUu2XYIjuNMDJPtKUA")
	if err == nil || !strings.Contains(stderr, `goes after "--"`) {
		t.Fatalf("move -id without --: err %v, stderr %q", err, stderr)
	}
}
