package csbcimi

// An in-process broker for the tests that need the engine: Caddy runs the csb app
// over one sandbox cloud (served by the same Caddy, reached through the
// CIMI adapter), and the tests call the front-end's ServeHTTP directly,
// as the user their request names, so that a 500 (an error returned to
// Caddy) is seen as such.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbadapters"
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbsandbox"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/caddytest"
)

type engineBroker struct {
	t *testing.T
	h *Handler
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEngineBroker loads a Caddy config with the csb app over one
// sandbox cloud and returns a front-end bound to that app.
func startEngineBroker(t *testing.T) *engineBroker {
	t.Helper()
	return startEngineBrokerWith(t, engineOptions{})
}

// engineOptions vary the broker startEngineBrokerWith starts.
type engineOptions struct {
	// csb and jobs are lines added to the csb block and to its jobs
	// block.
	csb, jobs string
	// buildTime is the sandbox's build_time (default 10ms); "0" makes
	// every action's transition immediate.
	buildTime string
	// faults puts the broker's storage behind faultStorage, so that a
	// test can make the writes of one key fail (failStore).
	faults bool
}

// startEngineBrokerWith is startEngineBroker with the options o.
func startEngineBrokerWith(t *testing.T, o engineOptions) *engineBroker {
	t.Helper()
	if o.buildTime == "" {
		o.buildTime = "10ms"
	}
	dir := t.TempDir()
	cloud := freePort(t)
	cf := fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %[2]s/storage
	csb {
		provider cloud-a {
			adapter cimi http://127.0.0.1:%[1]d/cimi/
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 16
				}
				storage {
					size 100
				}
				storagelink {
					mountpoint /dev/vdb
				}
			}
		}
		jobs {
			lease_min 1s
			respond_within 5s
			poll_interval 50ms
			%[4]s
		}
		%[3]s
	}
}

http://127.0.0.1:%[1]d {
	csb_sandbox cloud-a {
		capacity 8 16 200
		architecture x86_64
		build_time %[5]s
	}
}
`, cloud, dir, o.csb, o.jobs, o.buildTime)
	var edit func(map[string]any)
	if o.faults {
		edit = func(cfg map[string]any) {
			cfg["storage"] = map[string]any{"module": "csbcimi_fault", "root": dir + "/storage"}
		}
	}
	app := caddytest.Load(t, cf, edit)
	h := &Handler{Prefix: "/cimi/", MaxBodySize: defaultMaxBodySize, app: app, logger: zap.NewNop()}
	return &engineBroker{t: t, h: h}
}

// engineAnswer is one answer of the front-end; status is 500 for an
// error returned to Caddy.
type engineAnswer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
	err    error
}

// do sends method path as user with body (JSON unless ct says else) and
// the headers hdr (name, value, ...).
func (b *engineBroker) do(user, method, path string, body string, hdr ...string) *engineAnswer {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://broker.test"+path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	repl := caddy.NewReplacer()
	if user != "" {
		repl.Set("http.auth.user.id", user)
	}
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	err := b.h.ServeHTTP(w, r, next)
	a := &engineAnswer{status: w.Code, header: w.Header(), body: w.Body.Bytes(), err: err}
	if err != nil {
		a.status = http.StatusInternalServerError
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			a.status = he.StatusCode
		}
	}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && len(bytes.TrimSpace(a.body)) > 0 {
		if err := json.Unmarshal(a.body, &a.json); err != nil {
			b.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, a.body)
		}
	}
	return a
}

func (a *engineAnswer) String() string {
	return fmt.Sprintf("%d %v %s", a.status, a.err, a.body)
}

// create makes a machine as user and returns its id (the job id).
func (b *engineBroker) create(user, body string) string {
	b.t.Helper()
	a := b.do(user, "POST", "/cimi/machines", body)
	if a.status != http.StatusCreated {
		b.t.Fatalf("create: %s", a)
	}
	loc := a.header.Get("Location")
	return loc[strings.LastIndex(loc, "/")+1:]
}

const plainMachine = `{"name":"m","machineTemplate":{"machineConfig":{"cpu":1,"memory":1048576}}}`

func TestCIMIHarness(t *testing.T) {
	b := startEngineBroker(t)
	id := b.create("alice", plainMachine)
	if a := b.do("alice", "GET", "/cimi/machines/"+id, ""); a.status != 200 || a.json["state"] != "STARTED" {
		t.Fatalf("%s", a)
	}
	if a := b.do("bob", "GET", "/cimi/machines/"+id, ""); a.status != 404 {
		t.Fatalf("bob: %s", a)
	}
}
