package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// consoleUsers are the console tests' users (realm csb-consumer); carol
// is the console's operator.
var consoleUsers = map[string]string{"alice": "wonderland", "bob": "builder", "carol": "operator-pass"}

// consoleSite is a broker with the web console behind digest_auth, and
// two sandbox clouds that subscribe and publish their capacity and price,
// as Caddyfile.example has them.
type consoleSite struct {
	p     *harness.Process
	base  string // http://127.0.0.1:<port>
	admin string
}

// consoleStart starts the site and waits until both clouds are placeable.
// jobs adds lines to the csb app's jobs block.
func consoleStart(t *testing.T, jobs ...string) *consoleSite {
	t.Helper()
	broker, cloudA, cloudB := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	var users strings.Builder
	for u, pw := range consoleUsers {
		fmt.Fprintf(&users, "\t\tuser %s MD5 %s\n", u, digest.HA1(digest.MD5, u, "csb-consumer", pw))
		fmt.Fprintf(&users, "\t\tuser %s SHA-256 %s\n", u, digest.HA1(digest.SHA256, u, "csb-consumer", pw))
	}
	pub := func(name string) string {
		return fmt.Sprintf("\t\tuser %s SHA-256 %s\n", name, digest.HA1(digest.SHA256, name, "csb-publish", name+"-secret"))
	}
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider cloud-a {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
			adapter cdmi http://127.0.0.1:%[2]d/cdmi/
			subscribe http://127.0.0.1:%[2]d/csb/subscribe
			publishers cloud-a
		}
		provider cloud-b {
			adapter cimi http://127.0.0.1:%[3]d/cimi/
			adapter cdmi http://127.0.0.1:%[3]d/cdmi/
			subscribe http://127.0.0.1:%[3]d/csb/subscribe
			publishers cloud-b
		}
		subscriptions {
			retry 200ms 2s
		}
		placement cheapest
		jobs {
			respond_within 10s
			poll_interval 100ms
%[6]s
		}
	}
}

http://127.0.0.1:%[1]d {
	digest_auth /console* csb-consumer {
		algorithms MD5 SHA-256
%[4]s	}
	digest_auth /csb/publish csb-publish {
		algorithms SHA-256
%[5]s	}
	csb_console /console* {
		operators carol
	}
	csb
	respond 404
	handle_errors {
		respond "{err.status_code} {err.status_text}: {err.message}"
	}
}

http://127.0.0.1:%[2]d {
	csb_sandbox cloud-a {
		capacity 8 16 200
		price 0.02
		url http://127.0.0.1:%[2]d
		broker http://127.0.0.1:%[1]d/csb/publish
		broker_auth digest cloud-a cloud-a-secret
	}
}

http://127.0.0.1:%[3]d {
	csb_sandbox cloud-b {
		capacity 64 256 2000
		price 0.05
		url http://127.0.0.1:%[3]d
		broker http://127.0.0.1:%[1]d/csb/publish
		broker_auth digest cloud-b cloud-b-secret
	}
}
`, broker, cloudA, cloudB, users.String(), pub("cloud-a")+pub("cloud-b"), strings.Join(jobs, "\n")))
	if err := waitExampleCatalogue(p.AdminAddr, 60*time.Second, nil); err != nil {
		t.Fatalf("%v\n%s", err, p.Log())
	}
	return &consoleSite{p: p, base: fmt.Sprintf("http://127.0.0.1:%d", broker), admin: p.AdminAddr}
}

// consoleAdminJob reads a job from the admin API.
type consoleAdminJob struct {
	ID         string    `json:"id"`
	Owner      string    `json:"owner"`
	Status     string    `json:"status"`
	ProviderID string    `json:"provider_id"`
	Expires    time.Time `json:"expires"`
}

func (s *consoleSite) job(t *testing.T, id string) consoleAdminJob {
	t.Helper()
	st, _, body := adminDo(t, s.admin, http.MethodGet, "/csb/jobs/"+id, "application/json", "", nil)
	if st != http.StatusOK {
		t.Fatalf("admin GET /csb/jobs/%s: %d %s", id, st, body)
	}
	var j consoleAdminJob
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatalf("admin job %s: %v\n%s", id, err, body)
	}
	return j
}

// client returns an HTTP client that answers the Digest challenge as user.
func (s *consoleSite) client(user string) *http.Client {
	return &http.Client{
		Transport: &digest.Transport{Username: user, Password: consoleUsers[user], Base: http.DefaultTransport},
		// The forms answer 303; the tests look at the redirect itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// consoleChromium returns the path of the Chromium binary. Without one
// the browser tests skip, except in CI (CI set), where they fail: .ci/run
// installs Debian's chromium.
func consoleChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: install the Debian package chromium (.ci/run does)")
	}
	t.Skip("chromium not found: install the Debian package chromium to run the console's browser tests")
	return ""
}

// consoleBrowser is one user's headless Chromium tab.
type consoleBrowser struct {
	t     *testing.T
	ctx   context.Context
	user  string
	dir   string   // where its screenshots go (a temporary directory)
	shots []string // screenshot files written
	// challenges counts the Digest challenges the browser answered
	// (Fetch.authRequired).
	challenges atomic.Int32
}

// consoleNewBrowser starts Chromium for user, in a browser of its own (so
// no credentials are shared), answering every authentication challenge
// with user's password through the DevTools Fetch domain: the browser
// itself computes the Digest response to the server's real challenge.
// With scripts false, JavaScript is disabled in the tab.
func consoleNewBrowser(t *testing.T, bin, user string, scripts bool) *consoleBrowser {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	b := &consoleBrowser{t: t, ctx: ctx, user: user, dir: t.TempDir()}
	// Start the browser (no timeout on this first run: it bounds the
	// browser's life).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	auth := chromedp.Events(ctx, fetch.AuthRequired)
	call := func(f func(ctx context.Context, tg *chromedp.Target) error) {
		_, _ = chromedp.Run(ctx, chromedp.Func(f)) // fails only when the test is over
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			call(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				return err
			})
		}
	}()
	go func() {
		for ev, err := range auth {
			if err != nil {
				return
			}
			b.challenges.Add(1)
			resp := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: consoleUsers[user]}
			if ev.AuthChallenge != nil && !strings.EqualFold(ev.AuthChallenge.Scheme, "digest") {
				resp = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			}
			call(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: resp})
				return err
			})
		}
	}()
	yes := true
	b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes, Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}})
		return err
	}))
	if !scripts {
		b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	}
	return b
}

// do runs steps with a deadline.
func (b *consoleBrowser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s's browser: %v", b.user, err)
	}
}

// open loads url and returns the HTTP status of the page.
func (b *consoleBrowser) open(url string) int64 {
	b.t.Helper()
	return b.navigate(chromedp.Navigate(url))
}

// navigate runs steps that load a page and returns its HTTP status.
func (b *consoleBrowser) navigate(steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s's browser: %v", b.user, err)
	}
	return resp.Status
}

// text returns the text of the first element sel matches.
func (b *consoleBrowser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("%s's browser: text of %s: %v", b.user, sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page (DevTools runs it
// also when the page's own scripts are disabled).
func consoleEval[T any](b *consoleBrowser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s's browser: %s: %v", b.user, expr, err)
	}
	return v
}

// shot writes a full-page screenshot at the given viewport width to the
// test's temporary directory, and to CSB_CONSOLE_SHOTS when set.
func (b *consoleBrowser) shot(name string, width int64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Action[[]byte](func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		var opts []chromedp.EmulateViewportOption
		if width < 600 {
			opts = append(opts, chromedp.EmulateMobile) // the page's viewport meta applies
		}
		if _, err := chromedp.EmulateViewport(width, 800, opts...)(ctx, tg); err != nil {
			return nil, err
		}
		return chromedp.FullScreenshot(100)(ctx, tg)
	}))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{b.dir}
	if d := os.Getenv("CSB_CONSOLE_SHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		f := filepath.Join(d, name+".png")
		if err := os.WriteFile(f, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.shots = append(b.shots, f)
	}
	// Back to the desktop width for what follows.
	b.do(chromedp.EmulateViewport(1280, 900))
}
