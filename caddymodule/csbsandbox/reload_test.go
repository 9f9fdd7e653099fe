package csbsandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
)

func TestSandboxParseErrors(t *testing.T) {
	parsetest.CheckErrors(t, []parsetest.Case{
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
	}, parsetest.Unmarshal[Sandbox]())
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
