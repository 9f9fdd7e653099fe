// Package reloadtest holds tests of the csb app across Caddy's
// configuration reloads: a new configuration is provisioned and started
// while the old one still runs, then the old one's apps are stopped and
// its modules cleaned up, while its HTTP servers may still be serving the
// requests they had taken (caddy.go: run, unsyncedStop). The tests load
// configurations one after the other in the test's process, hold a
// request of the old configuration at a chosen point (a channel, no
// sleep), reload, and let it go on. They live apart from caddymodule's
// own tests because they register test modules (which that package's
// tests would find unlisted in README).
package reloadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/caddy-csb/caddy-csb/caddymodule"
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbadapters"
)

// broker loads csb configurations, one after the other, over one
// storage directory.
type broker struct {
	t   *testing.T
	dir string
	// admin is the admin endpoint's address; "" disables it.
	admin string
}

// newBroker returns a broker with nothing loaded yet; whatever is loaded
// last is stopped when the test ends.
func newBroker(t *testing.T) *broker {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("XDG_DATA_HOME", dir+"/data")
	t.Setenv("XDG_CONFIG_HOME", dir+"/config")
	t.Cleanup(func() { _ = caddy.Stop() })
	return &broker{t: t, dir: dir}
}

// load runs a configuration whose csb app is csb (JSON; "": none) and
// whose other apps are apps (JSON object members, or ""), as a reload
// does when one is running: the error is the load's (the running
// configuration then stays).
func (b *broker) load(csb, apps string) error {
	b.t.Helper()
	if csb != "" {
		csb = `"csb": ` + csb
		if apps != "" {
			csb += ","
		}
	}
	admin := `"disabled": true`
	if b.admin != "" {
		admin = fmt.Sprintf(`"listen": %q`, b.admin)
	}
	cfg := fmt.Sprintf(`{"admin": {%s, "config": {"persist": false}},
		"storage": {"module": "file_system", "root": %q},
		"apps": {%s%s}}`, admin, b.dir+"/storage", csb, apps)
	var check map[string]any
	if err := json.Unmarshal([]byte(cfg), &check); err != nil {
		b.t.Fatalf("the test's configuration: %v\n%s", err, cfg)
	}
	return caddy.Load([]byte(cfg), true)
}

// mustLoad is load for a configuration that must run.
func (b *broker) mustLoad(csb, apps string) {
	b.t.Helper()
	if err := b.load(csb, apps); err != nil {
		b.t.Fatalf("loading the configuration: %v", err)
	}
}

// app returns the running configuration's csb app.
func (b *broker) app() *caddymodule.App {
	b.t.Helper()
	app, err := caddy.ActiveContext().App("csb")
	if err != nil {
		b.t.Fatal(err)
	}
	return app.(*caddymodule.App)
}

// handler provisions an HTTP handler module in the running
// configuration, as the configuration's own routes would hold it: it is
// bound to that configuration's csb app and cleaned up with it.
func (b *broker) handler(id, raw string) caddyhttp.MiddlewareHandler {
	b.t.Helper()
	mod, err := caddy.ActiveContext().LoadModuleByID(id, json.RawMessage(raw))
	if err != nil {
		b.t.Fatal(err)
	}
	return mod.(caddyhttp.MiddlewareHandler)
}

// heldBody is a request body whose first read waits: reading says that
// the handler has begun reading it, and the read goes on once release
// is closed.
type heldBody struct {
	r       io.Reader
	reading chan struct{}
	release chan struct{}
	once    sync.Once
}

func newHeldBody(body string) *heldBody {
	return &heldBody{r: strings.NewReader(body), reading: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldBody) Read(p []byte) (int, error) {
	h.once.Do(func() {
		close(h.reading)
		<-h.release
	})
	return h.r.Read(p)
}

func (h *heldBody) Close() error { return nil }

// served is what a handler did with a request.
type served struct {
	rec   *httptest.ResponseRecorder
	err   error
	panic any
}

// serve runs h on r in the background, as a server's goroutine would,
// with the request's replacer set as Caddy's server sets it.
func serve(h caddyhttp.MiddlewareHandler, r *http.Request) <-chan served {
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	out := make(chan served, 1)
	go func() {
		s := served{rec: httptest.NewRecorder()}
		defer func() {
			s.panic = recover()
			out <- s
		}()
		s.err = h.ServeHTTP(s.rec, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(http.StatusTeapot)
			return nil
		}))
	}()
	return out
}
