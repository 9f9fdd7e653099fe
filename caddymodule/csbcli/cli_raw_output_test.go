package csbcli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// providerText is what a provider's reason or service id can bring
// through the broker's XML and JSON answers unchanged (both allow these
// characters): a C1 CSI (U+009B, an escape sequence's start to a
// terminal that reads C1 controls in UTF-8) with "2J" (clear the
// screen), a DEL and a right-to-left override.
const providerText = "ok\u009b2J\x7f\u202ecod.exe"

// TestCLIJSONAndXMLNoTerminalInjection: --json and --xml print the
// broker's answers for scripts, but people run them on a terminal too;
// a provider's text in them reaches the terminal with its control
// characters written as JSON escapes (\u009b) or XML character
// references (&#x9B;), which mean the same to a script. An escape the
// broker (or anyone on a plain-HTTP path) hides in an XML comment, where
// the parser does not look, is made visible the same way.
func TestCLIJSONAndXMLNoTerminalInjection(t *testing.T) {
	job, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Response: &csbmsg.ServiceResponse{Status: 200, Reason: providerText,
		JobInfo: &csbmsg.ResponseJobInfo{JobID: "j1", JobStatus: "success", Expires: 60}}})
	if err != nil {
		t.Fatal(err)
	}
	// After the XML declaration, if there is one.
	decl := bytes.Index(job, []byte("?>")) + 2
	if !bytes.HasPrefix(job, []byte("<?xml")) {
		decl = 0
	}
	job = append(append(append([]byte{}, job[:decl]...), "<!-- \x1b]0;pwned\a\x1b[2J -->"...), job[decl:]...)
	if _, err := csbmsg.ParseConsumer(job, csbmsg.Options{}); err != nil {
		t.Fatalf("the answer must be one the CLI accepts: %v", err)
	}
	list, err := csbmsg.MarshalJobList(&csbmsg.JobList{Responses: []*csbmsg.ServiceResponse{{Status: 200, Reason: providerText,
		JobInfo: &csbmsg.ResponseJobInfo{JobID: "j1", JobStatus: "success", Expires: 60}}}})
	if err != nil {
		t.Fatal(err)
	}
	listJSON, _ := json.Marshal(csbmsg.JobListing{Jobs: []csbmsg.ListedJob{{JobID: "j1", JobStatus: "success", Reason: providerText, ProviderID: providerText}}})
	catJSON := `{"version":1,"providers":[{"id":"p1","status":"active","label":` + strings.TrimSuffix(string(must(json.Marshal(providerText))), "\n") + `,"services":[]}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/csb/consumer/j1":
			w.Header().Set("Content-Type", csbmsg.ConsumerMediaType)
			w.Write(job)
		case r.URL.Query().Has("catalog"):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, catJSON)
		case r.Header.Get("Accept") == "application/json":
			w.Header().Set("Content-Type", "application/json")
			w.Write(listJSON)
		default:
			w.Header().Set("Content-Type", csbmsg.ConsumerMediaType)
			w.Write(list)
		}
	}))
	defer srv.Close()
	t.Setenv("CSB_PASSWORD", "pw")
	for _, args := range [][]string{{"job", "j1", "--json"}, {"job", "j1", "--xml"}, {"jobs", "--json"}, {"jobs", "--xml"}, {"catalog", "--json"}} {
		var stdout, stderr bytes.Buffer
		root := &cobra.Command{Use: "csb", SilenceErrors: true, SilenceUsage: true}
		setupCLI(root, &cli{stdout: &stdout, stderr: &stderr})
		root.SetArgs(append([]string{"--broker", srv.URL, "--user", "u", "--netrc", filepath.Join(t.TempDir(), "none")}, args...))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		if err := root.Execute(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		what := strings.Join(args, " ")
		out := stdout.String()
		noControls(t, what, out, -1)
		// What a script reads is still the provider's text.
		switch {
		case strings.HasSuffix(what, "--json") && args[0] == "job":
			var v jobView
			if err := json.Unmarshal(stdout.Bytes(), &v); err != nil || v.Reason != providerText {
				t.Errorf("%s: reason %q (%v), want %q", what, v.Reason, err, providerText)
			}
		case args[0] == "job":
			m, err := csbmsg.ParseConsumer(stdout.Bytes(), csbmsg.Options{})
			if err != nil || m.Response == nil || m.Response.Reason != providerText {
				t.Errorf("%s: %v, want the reason %q:\n%s", what, err, providerText, out)
			}
		case what == "jobs --xml":
			l, err := csbmsg.ParseJobList(stdout.Bytes(), csbmsg.Options{})
			if err != nil || len(l.Responses) != 1 || l.Responses[0].Reason != providerText {
				t.Errorf("%s: %v, want the reason %q:\n%s", what, err, providerText, out)
			}
		case what == "jobs --json":
			var l csbmsg.JobListing
			if err := json.Unmarshal(stdout.Bytes(), &l); err != nil || len(l.Jobs) != 1 || l.Jobs[0].ProviderID != providerText {
				t.Errorf("%s: %v, want the provider %q:\n%s", what, err, providerText, out)
			}
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
