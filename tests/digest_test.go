package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// digestSite is a live Caddy with digest_auth routes. alice's HA1 lines
// come from the real "caddy digest-hash" command; bob is in an htdigest
// file written by Apache's real htdigest tool.
type digestSite struct {
	p    *harness.Process
	base string // http://127.0.0.1:<port>
}

const digestRealm = "broker"

// digestHashLines runs "caddy digest-hash" with the password on stdin.
func digestHashLines(t *testing.T, user, realm, password string, args ...string) string {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), append([]string{"digest-hash", "--user", user, "--realm", realm}, args...)...)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy digest-hash: %v", err)
	}
	return string(out)
}

func startDigestSite(t *testing.T) *digestSite {
	t.Helper()
	dir := t.TempDir()
	htfile := filepath.Join(dir, "users.htdigest")
	cmd := exec.Command(lookTool(t, "htdigest"), "-c", htfile, digestRealm, "bob")
	cmd.Stdin = strings.NewReader("builder\nbuilder\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("htdigest: %v\n%s", err, out)
	}
	alice := digestHashLines(t, "alice", digestRealm, "wonderland")
	if n := strings.Count(alice, "\n"); n != 3 {
		t.Fatalf("digest-hash printed %d lines:\n%s", n, alice)
	}
	users := "\t\t\thtdigest " + htfile + "\n" + indent(alice, "\t\t\t")
	port := harness.FreePort(t)
	route := func(path, opts string) string {
		return fmt.Sprintf("\troute %s/* {\n\t\tdigest_auth %s {\n%s%s\t\t}\n\t}\n", path, digestRealm, indent(opts, "\t\t\t"), users)
	}
	caddyfile := fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
}
http://127.0.0.1:%d {
%s%s%s%s%s	respond "hello {http.auth.user.id} {http.auth.user.algorithm}"
	handle_errors {
		respond "denied: {err.status_code}"
	}
}
`, port,
		route("/md5", "algorithms MD5 SHA-256\n"),
		route("/sha256", "algorithms SHA-256 MD5\nuserhash\n"),
		route("/sess", "algorithms SHA-256-sess MD5-sess\n"),
		route("/strong", "algorithms MD5 SHA-256 SHA-512-256\nuserhash\n"),
		route("/int", "algorithms SHA-256\nqop auth-int\n"),
	)
	p := harness.Start(t, caddyfile)
	return &digestSite{p: p, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// TestDigestCurl runs Debian's curl (7.88) with --digest. curl answers the
// first Digest challenge it gets, so each route lists the algorithm under
// test first. curl 7.88 supports MD5, SHA-256 and their -sess variants
// and userhash; its "SHA-512-256" hashes with SHA-256 (a curl bug fixed
// in later releases), so it is not tested here.
func TestDigestCurl(t *testing.T) {
	curl := lookTool(t, "curl")
	s := startDigestSite(t)
	for _, tc := range []struct {
		path, user, pass string
		code             int
		body             string
	}{
		{"/md5/a?b=c", "alice", "wonderland", 200, "hello alice MD5"},
		{"/md5/a", "bob", "builder", 200, "hello bob MD5"},
		{"/md5/a", "alice", "wrong", 401, "denied: 401"},
		{"/md5/a", "mallory", "wonderland", 401, "denied: 401"},
		{"/sha256/a", "alice", "wonderland", 200, "hello alice SHA-256"},
		{"/sha256/a", "alice", "wrong", 401, "denied: 401"},
		{"/sess/a", "alice", "wonderland", 200, "hello alice SHA-256-sess"},
		{"/sess/a", "alice", "wrong", 401, "denied: 401"},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/")+"/"+tc.user+"/"+tc.pass, func(t *testing.T) {
			out, err := exec.Command(curl, "-sS", "--digest", "-u", tc.user+":"+tc.pass,
				"-w", "\n%{http_code}", s.base+tc.path).Output()
			if err != nil {
				t.Fatalf("curl: %v", err)
			}
			lines := strings.Split(string(out), "\n")
			body, code := strings.Join(lines[:len(lines)-1], "\n"), lines[len(lines)-1]
			if code != fmt.Sprint(tc.code) || body != tc.body {
				t.Fatalf("got %s %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
}

// pythonDigest is run with python3 -c: it fetches a URL through
// urllib.request.HTTPDigestAuthHandler and prints the status and body.
const pythonDigest = `
import sys, urllib.request, urllib.error
url, user, password = sys.argv[1:4]
pm = urllib.request.HTTPPasswordMgrWithDefaultRealm()
pm.add_password(None, url, user, password)
opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(pm))
try:
    r = opener.open(url, timeout=10)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    body = e.read()
    print(e.code, body.decode() if isinstance(body, bytes) else body)
`

// TestDigestPythonUrllib runs Python's urllib, which reads only the first
// WWW-Authenticate field and knows only MD5 (and SHA-1): it is served by
// the route that lists MD5 first.
func TestDigestPythonUrllib(t *testing.T) {
	// Debian's python3 (what .ci/run installs) when present, rather than
	// whatever wrapper comes first on PATH.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = lookTool(t, "python3")
	}
	s := startDigestSite(t)
	for _, tc := range []struct{ user, pass, want string }{
		{"alice", "wonderland", "200 hello alice MD5"},
		{"bob", "builder", "200 hello bob MD5"},
		// urllib gives up after its retries with an HTTPError of its own
		// (no body).
		{"alice", "wrong", "401"},
	} {
		out, err := exec.Command(python, "-c", pythonDigest, s.base+"/md5/py?x=1", tc.user, tc.pass).CombinedOutput()
		if err != nil {
			t.Fatalf("python3: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%s/%s: got %q, want %q", tc.user, tc.pass, got, tc.want)
		}
	}
}

// TestDigestGoClient uses the broker's own client (broker/httpclient with
// digest.Transport): it picks SHA-512-256 although MD5 is listed first,
// does auth-int with a body, and reuses its nonce.
func TestDigestGoClient(t *testing.T) {
	s := startDigestSite(t)
	newClient := func(pass string) *http.Client {
		c, err := httpclient.New(httpclient.Config{Auth: httpclient.Auth{Scheme: "digest", Username: "alice", Password: pass}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	do := func(c *http.Client, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := newClient("wonderland")
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/strong/x", "hello alice SHA-512-256"},
		{"GET", "/strong/y?q=1", "hello alice SHA-512-256"},
		{"POST", "/int/x", "hello alice SHA-256"},
		{"PUT", "/sess/x", "hello alice SHA-256-sess"},
		{"GET", "/md5/x", "hello alice SHA-256"},
	} {
		if code, body := do(good, tc.method, tc.path, "<csbrequest/>"); code != 200 || body != tc.want {
			t.Errorf("%s %s: %d %q, want 200 %q", tc.method, tc.path, code, body, tc.want)
		}
	}
	if code, body := do(newClient("wrong"), "GET", "/strong/x", ""); code != 401 || body != "denied: 401" {
		t.Errorf("wrong password: %d %q", code, body)
	}
}

// rawRequest sends one HTTP/1.1 request on a fresh connection and returns
// the status code and the WWW-Authenticate fields.
func rawRequest(t *testing.T, addr, path, authorization string) (int, []string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", path, addr, authorization)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
}

// TestDigestReplayRefused sends the same credentials (same nonce, same nc)
// twice with a raw client: the first is accepted, the replay refused with
// a fresh challenge. Bad credentials of every kind get 401, never 500.
func TestDigestReplayRefused(t *testing.T) {
	s := startDigestSite(t)
	addr := strings.TrimPrefix(s.base, "http://")
	code, chals := rawRequest(t, addr, "/sha256/r", "")
	if code != 401 || len(chals) != 2 {
		t.Fatalf("challenge: %d %q", code, chals)
	}
	cs, err := digest.ParseChallenges(chals[0])
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := cs[0].Get("nonce")
	opaque, _ := cs[0].Get("opaque")
	header := func(uri, nc, realm string) string {
		in := digest.Input{Algorithm: digest.SHA256, HA1: digest.HA1(digest.SHA256, "alice", digestRealm, "wonderland"),
			Nonce: nonce, Cnonce: "raw-cnonce", NC: nc, QOP: "auth", Method: "GET", URI: uri}
		return fmt.Sprintf(`Digest username="alice", realm=%q, uri=%q, algorithm=SHA-256, nonce=%q, nc=%s, cnonce="raw-cnonce", qop=auth, response=%q, opaque=%q`,
			realm, uri, nonce, nc, in.Response(), opaque)
	}
	h := header("/sha256/r", "00000001", digestRealm)
	if code, _ := rawRequest(t, addr, "/sha256/r", h); code != 200 {
		t.Fatalf("first use: %d", code)
	}
	code, chals = rawRequest(t, addr, "/sha256/r", h)
	if code != 401 || len(chals) != 2 {
		t.Fatalf("replay: %d %q", code, chals)
	}
	for name, h := range map[string]string{
		"wrong uri":         header("/sha256/other", "00000002", digestRealm),
		"wrong realm":       header("/sha256/r", "00000003", "elsewhere"),
		"malformed":         `Digest username="alice", realm="broker", nonce="` + nonce,
		"unknown algorithm": strings.Replace(header("/sha256/r", "00000004", digestRealm), "SHA-256", "SHA-1", 1),
		"garbage":           "Digest ,,, =\"x\", \"",
	} {
		if code, chals := rawRequest(t, addr, "/sha256/r", h); code != 401 || len(chals) != 2 {
			t.Errorf("%s: %d %q", name, code, chals)
		}
	}
	// And after all that, the next count still works.
	if code, _ := rawRequest(t, addr, "/sha256/r", header("/sha256/r", "00000005", digestRealm)); code != 200 {
		t.Fatalf("nc=5: %d", code)
	}
	// Nothing secret reached the log.
	log := s.p.Log()
	for _, secret := range []string{"wonderland", digest.HA1(digest.SHA256, "alice", digestRealm, "wonderland"),
		digest.HA1(digest.MD5, "alice", digestRealm, "wonderland")} {
		if strings.Contains(log, secret) {
			t.Fatalf("the Caddy log contains a secret (%s...)", secret[:4])
		}
	}
}
