package csbcli

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// hostile is text a provider controls (a reason, a label, a service id,
// an endpoint): a terminal escape that would clear the screen and retitle
// the window, a right-to-left override, and a tab and a newline that would
// break the table's columns and rows.
const hostile = "a\x1b[2J\x1b]0;pwned\a\u202e\tb\nFAKE\tROW\u009b31m\x9b1m"

// noControls fails when out holds a byte or rune a terminal would act on
// rather than print, other than the table's own newlines.
func noControls(t *testing.T, what, out string, lines int) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: bytes that are not UTF-8 reach the terminal (0x9b is CSI to a Latin-1 one):\n%q", what, out)
	}
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u202e') {
			t.Errorf("%s: a control character %U reaches the terminal:\n%q", what, r, out)
			break
		}
	}
	if n := strings.Count(out, "\n"); lines >= 0 && n != lines {
		t.Errorf("%s: %d lines, want %d (provider text broke the table):\n%s", what, n, lines, out)
	}
}

// TestCLITableNoTerminalInjection: provider-controlled text in every
// table is printed with its control characters made visible, so it can
// neither act on the user's terminal nor add rows or columns.
func TestCLITableNoTerminalInjection(t *testing.T) {
	var b bytes.Buffer
	exp := uint64(60)
	if err := printJob(&b, jobView{Status: 200, Reason: hostile, JobID: "j1", JobStatus: "success", ProviderID: hostile,
		Expires: &exp, CloudServiceURI: "http://x/" + hostile, Granted: hostile}); err != nil {
		t.Fatal(err)
	}
	noControls(t, "job", b.String(), 7)

	b.Reset()
	if err := printJobs(&b, []csbmsg.ListedJob{{JobID: "j1", JobStatus: "failed", Kind: "IaaS", ProviderID: hostile, ServiceID: hostile,
		CloudServiceURI: hostile, Created: time.Unix(0, 0)}}); err != nil {
		t.Fatal(err)
	}
	noControls(t, "jobs", b.String(), 2)

	b.Reset()
	if err := printExplanation(&b, explanation{Kind: "IaaS", Policy: hostile, Candidates: []candidate{{ProviderID: hostile, ServiceID: hostile, Note: hostile}}}); err != nil {
		t.Fatal(err)
	}
	noControls(t, "explain", b.String(), 3)

	b.Reset()
	var cat catalogue
	label, _ := json.Marshal(hostile)
	if err := json.Unmarshal([]byte(`{"providers":[{"id":`+string(label)+`,"label":`+string(label)+`,"services":[{"kind":`+string(label)+
		`,"service":{"id":`+string(label)+`,"saas":{"link":{"rel":`+string(label)+`}}}}]}]}`), &cat); err != nil {
		t.Fatal(err)
	}
	if err := printCatalogue(&b, cat); err != nil {
		t.Fatal(err)
	}
	noControls(t, "catalog", b.String(), 2)
}

// TestCLIStderrNoTerminalInjection: the broker's reason of a refusal,
// an HTTP error's text and a followed job's state reach stderr with their
// control characters made visible.
func TestCLIStderrNoTerminalInjection(t *testing.T) {
	var stderr bytes.Buffer
	c := &cli{stderr: &stderr, stdout: &bytes.Buffer{}}
	c.protocolFailure(csbmsg.StatusUnableToFindResource, hostile)
	noControls(t, "protocol failure", stderr.String(), 1)
	stderr.Reset()
	c.fail(errors.New("GET /csb/consumer: HTTP 502 Bad Gateway" + brokerText([]byte(hostile))))
	noControls(t, "HTTP failure", stderr.String(), 1)
	stderr.Reset()
	a := &answer{Header: http.Header{}, Resp: &csbmsg.ServiceResponse{Status: 200, Reason: hostile,
		JobInfo: &csbmsg.ResponseJobInfo{JobID: "j1", JobStatus: "failed"}}}
	c.showJob(nil, nil, a, nil, true)
	noControls(t, "followed job", stderr.String(), 1)
}
