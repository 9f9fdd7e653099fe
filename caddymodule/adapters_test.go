package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/adapters/cimi"
)

func TestAdapterParseErrors(t *testing.T) {
	checkParseErrors(t, []parseCase{
		{"no name", "provider p {\n adapter\n}", "wrong argument count"},
		{"unknown adapter", "provider p {\n adapter nosuch\n}", `unknown adapter "nosuch"`},
		{"cimi no endpoint", "provider p {\n adapter cimi\n}", "endpoint is required"},
		{"cimi unknown option", "provider p {\n adapter cimi http://x/ {\n colour red\n }\n}", `unrecognized option "colour"`},
		{"cimi extra arg", "provider p {\n adapter cimi http://x/ http://y/\n}", "wrong argument count"},
		{"cimi option without value", "provider p {\n adapter cimi {\n image\n }\n}", "wrong argument count"},
		{"cdmi no endpoint", "provider p {\n adapter cdmi {\n prefix x\n }\n}", "endpoint is required"},
		{"cdmi unknown option", "provider p {\n adapter cdmi http://x/ {\n image y\n }\n}", `unrecognized option "image"`},
	}, parseProvider)
}

func TestSandboxParseErrors(t *testing.T) {
	checkParseErrors(t, []parseCase{
		{"two ids", "csb_sandbox a b", "wrong argument count"},
		{"unknown", "csb_sandbox {\n colour red\n}", `unrecognized option "colour"`},
		{"relative path", "csb_sandbox {\n cimi_path cimi\n}", "must begin with /"},
		{"capacity args", "csb_sandbox {\n capacity 1 2\n}", "wrong argument count"},
		{"capacity zero", "csb_sandbox {\n capacity 0 2 3\n}", "positive integer"},
		{"price", "csb_sandbox {\n price cheap\n}", "non-negative number"},
		{"duration", "csb_sandbox {\n build_time soon\n}", "invalid duration"},
		{"push frequency", "csb_sandbox {\n push p 0s\n}", "invalid duration"},
		{"error rate", "csb_sandbox {\n error_rate 1.5\n}", "between 0 and 1"},
		{"error status", "csb_sandbox {\n error_rate 0.5 200\n}", "error_rate status \"200\" must be 400-599"},
		{"fail after status", "csb_sandbox {\n fail_after 3 600\n}", "fail_after status \"600\" must be 400-599"},
		{"fail after", "csb_sandbox {\n fail_after -1\n}", "positive integer"},
		{"hang args", "csb_sandbox {\n hang now\n}", "wrong argument count"},
		{"seed", "csb_sandbox {\n seed x\n}", "non-negative integer"},
	}, unmarshal[Sandbox]())
}

func TestAppLoadsAdapters(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	var app App
	if err := json.Unmarshal([]byte(`{"providers":[
		{"id":"a","adapter":{"name":"cimi","endpoint":"http://127.0.0.1:1/cimi/"}},
		{"id":"b","adapter":{"name":"cdmi","endpoint":"http://127.0.0.1:1/cdmi/"}},
		{"id":"c"}]}`), &app); err != nil {
		t.Fatal(err)
	}
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if a, ok := app.Adapter("a"); !ok {
		t.Error("no adapter for a")
	} else if _, ok := a.(*cimi.Adapter); !ok {
		t.Errorf("adapter of a is %T", a)
	}
	if a, ok := app.Adapter("b"); !ok {
		t.Error("no adapter for b")
	} else if _, ok := a.(*cdmi.Adapter); !ok {
		t.Errorf("adapter of b is %T", a)
	}
	if _, ok := app.Adapter("c"); ok {
		t.Error("c has no adapter")
	}
	var two App
	_ = json.Unmarshal([]byte(`{"providers":[{"id":"d","adapter":{"name":"cimi","endpoint":"http://127.0.0.1:1/cimi/"},
		"more_adapters":[{"name":"cdmi","endpoint":"http://127.0.0.1:1/cdmi/"}]}]}`), &two)
	if err := two.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if a, ok := two.AdapterFor("d", "DSaaS"); !ok {
		t.Error("no DSaaS adapter for d")
	} else if _, ok := a.(*cdmi.Adapter); !ok {
		t.Errorf("DSaaS adapter of d is %T", a)
	}
	if a, _ := two.AdapterFor("d", "IaaS"); a == nil {
		t.Error("no IaaS adapter for d")
	} else if _, ok := a.(*cimi.Adapter); !ok {
		t.Errorf("IaaS adapter of d is %T", a)
	}
	if _, ok := two.AdapterFor("d", "PaaS"); ok {
		t.Error("d has no PaaS adapter")
	}
	var bad App
	_ = json.Unmarshal([]byte(`{"providers":[{"id":"x","adapter":{"name":"cimi","endpoint":"ftp://x"}}]}`), &bad)
	if err := bad.Provision(ctx); err == nil || !strings.Contains(err.Error(), `provider "x"`) {
		t.Errorf("bad endpoint: %v", err)
	}
}

// TestSandboxSurvivesReload provisions a sandbox, creates a machine, then
// provisions its replacement (as a reload does) before cleaning up the
// old one: the machine is still there. Cleanup stops the notifier; once the
// last user is gone, the next sandbox with that id starts empty.
func TestSandboxSurvivesReload(t *testing.T) {
	ctx1, cancel1 := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel1()
	old := &Sandbox{ID: "reload-test", Cores: 4, MemoryGB: 4, StorageGB: 20}
	if err := old.Provision(ctx1); err != nil {
		t.Fatal(err)
	}
	create := `{"resourceURI":"http://schemas.dmtf.org/cimi/1/MachineCreate","machineTemplate":{"machineConfig":{"cpu":2,"memory":1048576},"machineImage":{"href":"/cimi/machineImages/debian-12"}}}`
	rec := serve(t, old, http.MethodPost, "/cimi/machines", create)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	ctx2, cancel2 := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel2()
	neu := &Sandbox{ID: "reload-test", Cores: 8, MemoryGB: 4, StorageGB: 20}
	if err := neu.Provision(ctx2); err != nil {
		t.Fatal(err)
	}
	cleanupWithin(t, old)
	rec = serve(t, neu, http.MethodGet, "/cimi/machines", "")
	if !strings.Contains(rec.Body.String(), `"count":1`) {
		t.Fatalf("machine lost across reload: %s", rec.Body)
	}
	if neu.cloud.Config().Capacity.Cores != 8 {
		t.Errorf("reload did not apply the new capacity")
	}
	cleanupWithin(t, neu)
	fresh := &Sandbox{ID: "reload-test"}
	if err := fresh.Provision(ctx2); err != nil {
		t.Fatal(err)
	}
	defer cleanupWithin(t, fresh)
	if rec = serve(t, fresh, http.MethodGet, "/cimi/machines", ""); !strings.Contains(rec.Body.String(), `"count":0`) {
		t.Errorf("state kept after its last user left: %s", rec.Body)
	}
	if rec = serve(t, fresh, http.MethodGet, "/elsewhere", ""); rec.Code != http.StatusTeapot {
		t.Errorf("other paths must reach the next handler: %d", rec.Code)
	}
}

func serve(t *testing.T, s *Sandbox, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	if err := s.ServeHTTP(rec, req, next); err != nil {
		t.Fatal(err)
	}
	return rec
}

func cleanupWithin(t *testing.T, s *Sandbox) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Cleanup() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cleanup did not stop the notifier")
	}
}

// parseCase is Caddyfile input whose parsing must fail with an error
// containing want.
type parseCase struct{ name, input, want string }

// checkParseErrors parses each case with parse (a fresh value's
// UnmarshalCaddyfile, say) and checks its error.
func checkParseErrors(t *testing.T, cases []parseCase, parse func(*caddyfile.Dispenser) error) {
	t.Helper()
	for i, c := range cases {
		name := c.name
		if name == "" {
			name = fmt.Sprint(i)
		}
		t.Run(name, func(t *testing.T) {
			err := parse(caddyfile.NewTestDispenser(c.input))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%q: error %v, want one containing %q", c.input, err, c.want)
			}
		})
	}
}

// parseProvider parses a provider block.
func parseProvider(d *caddyfile.Dispenser) error {
	d.Next() // "provider"
	return parseProviderBlock(d, new(App))
}

// unmarshal returns a parse function that unmarshals into a fresh T.
func unmarshal[T any, P interface {
	*T
	caddyfile.Unmarshaler
}]() func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error { return P(new(T)).UnmarshalCaddyfile(d) }
}
