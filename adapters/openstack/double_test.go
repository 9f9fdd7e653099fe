package openstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
)

// double is a Keystone v3 and Nova v2.1 double built from the API
// references' request and response bodies (testdata/). It keeps real
// state: tokens, servers and their status transitions.
type double struct {
	t   *testing.T
	srv *httptest.Server

	// faults for the conformance kit, under their own lock so a hung call
	// does not block the double's state.
	faults adaptertest.Faults

	mu          sync.Mutex
	password    string
	appCredID   string
	appSecret   string
	project     string
	objectStore string // object-store catalogue URL, if any
	tokenTTL    time.Duration
	tokens      map[string]bool
	nextToken   int
	authCalls   int
	authBodies  []map[string]any
	computeHits map[string]int // by catalogue tag (r1-public, ...)
	servers     map[string]*fakeServer
	nextServer  int
	createBody  map[string]any
	actions     []string
	quotaCores  int // a create asking for more vCPUs than this is refused with 403
	// deletedFlavors are flavors an operator deleted: no longer listed
	// nor readable (404), while servers of them keep their flavor id.
	deletedFlavors map[string]bool
	// loseCreates is how many of the next server creates are carried
	// out but never answered: the connection is closed instead, as when
	// a create's answer is lost or its caller's deadline passes.
	loseCreates int
}

// fakeServer is a Nova server and the transition its next GET applies.
type fakeServer struct {
	ID, Name, Flavor, Image    string
	Status, VMState, TaskState string
	Fault                      string
	Metadata                   map[string]string
	Address                    string
	next                       func(*fakeServer)
}

const (
	dblUser    = "demo"
	dblDomain  = "Default"
	dblProject = "9b5ab0be1e6a4bb8b6e5a2e4f57c3d21"
)

func newDouble(t *testing.T) *double {
	d := &double{
		t: t, password: "demo-password", appCredID: "0f7e6c2a9d3b4e5f8a1b2c3d4e5f6a7b", appSecret: "app-cred-secret",
		project: dblProject, tokenTTL: time.Hour, tokens: map[string]bool{}, computeHits: map[string]int{},
		servers: map[string]*fakeServer{}, quotaCores: 1 << 20,
	}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	t.Cleanup(func() { d.faults.Apply(adaptertest.Fault{}) }) // runs first: releases hung calls
	return d
}

func (d *double) authURL() string { return d.srv.URL + "/identity/v3" }

func (d *double) revokeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tokens = map[string]bool{}
}

func (d *double) server(id string) fakeServer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.servers[id]
}

// render executes a testdata template.
func (d *double) render(name string, data any) []byte {
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		d.t.Error(err)
		return nil
	}
	tpl, err := template.New(name).Parse(string(raw))
	if err != nil {
		d.t.Error(err)
		return nil
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		d.t.Error(err)
	}
	if !json.Valid(b.Bytes()) {
		d.t.Errorf("%s renders invalid JSON:\n%s", name, b.String())
	}
	return b.Bytes()
}

func (d *double) reply(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-OpenStack-Nova-API-Version", "2.1")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// applyFault sets the misbehaviour the conformance kit asks for.
func (d *double) applyFault(f adaptertest.Fault) { d.faults.Apply(f) }

// inventory is how many servers exist.
func (d *double) inventory() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.servers)
}

func (d *double) serve(w http.ResponseWriter, r *http.Request) {
	if d.faults.Intercept(w, r, func(w http.ResponseWriter, status int) {
		name := map[int]string{400: "badRequest", 500: "computeFault", 503: "serviceUnavailable"}[status]
		d.reply(w, status, fmt.Appendf(nil, `{"%s":{"code":%d,"message":"injected fault"}}`, name, status))
	}) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case r.URL.Path == "/identity/v3/auth/tokens" && r.Method == http.MethodPost:
		d.serveAuth(w, r)
	case strings.HasPrefix(r.URL.Path, "/compute/"):
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/compute/"), "/", 4)
		if len(parts) < 3 || parts[1] != "v2.1" || parts[2] != d.project {
			http.NotFound(w, r)
			return
		}
		if !d.tokens[r.Header.Get("X-Auth-Token")] {
			d.reply(w, http.StatusUnauthorized, d.render("keystone/error-401.json", nil))
			return
		}
		d.computeHits[parts[0]]++
		// Nova names the microversion it answered with on every response.
		w.Header().Set("X-OpenStack-Nova-API-Version", "2.1")
		rest := ""
		if len(parts) == 4 {
			rest = parts[3]
		}
		d.serveCompute(w, r, d.srv.URL+"/compute/"+parts[0]+"/v2.1/"+d.project, rest)
	default:
		http.NotFound(w, r)
	}
}

func (d *double) serveAuth(w http.ResponseWriter, r *http.Request) {
	d.authCalls++
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		d.reply(w, http.StatusBadRequest, []byte(`{"error":{"code":400,"message":"bad json","title":"Bad Request"}}`))
		return
	}
	d.authBodies = append(d.authBodies, body)
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						ID       string `json:"id"`
						Name     string `json:"name"`
						Password string `json:"password"`
						Domain   struct {
							ID   string `json:"id"`
							Name string `json:"name"`
						} `json:"domain"`
					} `json:"user"`
				} `json:"password"`
				AppCred struct {
					ID     string `json:"id"`
					Secret string `json:"secret"`
				} `json:"application_credential"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					ID     string `json:"id"`
					Name   string `json:"name"`
					Domain struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	raw, _ := json.Marshal(body)
	json.Unmarshal(raw, &req)
	id := req.Auth.Identity
	ok := false
	method := ""
	switch {
	case len(id.Methods) == 1 && id.Methods[0] == "password":
		method = "password"
		u := id.Password.User
		sc := req.Auth.Scope.Project
		ok = u.Password == d.password &&
			((u.Name == dblUser && u.Domain.Name == dblDomain) || u.ID == "ee4dfb6e5540447cb3741905149d9b6e") &&
			((sc.Name == "demo" && sc.Domain.Name == dblDomain) || sc.ID == d.project)
	case len(id.Methods) == 1 && id.Methods[0] == "application_credential":
		method = "application_credential"
		ok = id.AppCred.ID == d.appCredID && id.AppCred.Secret == d.appSecret
	}
	if !ok {
		d.reply(w, http.StatusUnauthorized, d.render("keystone/error-401.json", nil))
		return
	}
	d.nextToken++
	tok := fmt.Sprintf("gAAAAABtoken%04d", d.nextToken)
	d.tokens[tok] = true
	now := time.Now().UTC()
	w.Header().Set("X-Subject-Token", tok)
	d.reply(w, http.StatusCreated, d.render("keystone/auth-response.json", map[string]any{
		"Method": method, "Base": d.srv.URL, "Project": d.project, "ObjectStore": d.objectStore,
		"ExpiresAt": now.Add(d.tokenTTL).Format("2006-01-02T15:04:05.000000Z"),
		"IssuedAt":  now.Format("2006-01-02T15:04:05.000000Z"),
	}))
}

func (d *double) serverData(s *fakeServer, compute string) map[string]any {
	meta, _ := json.Marshal(s.Metadata)
	return map[string]any{
		"ID": s.ID, "Name": s.Name, "Flavor": s.Flavor, "Image": s.Image, "Status": s.Status, "VMState": s.VMState,
		"TaskState": s.TaskState, "Fault": s.Fault, "Address": s.Address, "Compute": compute, "Project": d.project,
		"MetadataJSON": string(meta), "AdminPass": "Xy7pQ2rS9tUv",
	}
}

func (d *double) flavors(compute string) []flavor {
	var f struct {
		Flavors []flavor `json:"flavors"`
	}
	json.Unmarshal(d.render("nova/flavors-detail.json", map[string]string{"Compute": compute}), &f)
	return slices.DeleteFunc(f.Flavors, func(f flavor) bool { return d.deletedFlavors[f.ID] })
}

// flavorsDetail is the body of GET /flavors/detail: the reference's,
// without the deleted flavors.
func (d *double) flavorsDetail(compute string) []byte {
	raw := d.render("nova/flavors-detail.json", map[string]string{"Compute": compute})
	if len(d.deletedFlavors) == 0 {
		return raw
	}
	var body struct {
		Flavors []map[string]any `json:"flavors"`
	}
	json.Unmarshal(raw, &body)
	body.Flavors = slices.DeleteFunc(body.Flavors, func(f map[string]any) bool { id, _ := f["id"].(string); return d.deletedFlavors[id] })
	b, _ := json.Marshal(body)
	return b
}

func (d *double) serveCompute(w http.ResponseWriter, r *http.Request, compute, rest string) {
	seg := strings.Split(rest, "/")
	switch {
	case rest == "flavors/detail" && r.Method == http.MethodGet:
		d.reply(w, 200, d.flavorsDetail(compute))
	case len(seg) == 2 && seg[0] == "flavors" && r.Method == http.MethodGet:
		for _, f := range d.flavors(compute) {
			if f.ID == seg[1] {
				b, _ := json.Marshal(map[string]any{"flavor": map[string]any{
					"id": f.ID, "name": f.Name, "vcpus": f.VCPUs, "ram": f.RAM, "disk": f.Disk,
					"OS-FLV-DISABLED:disabled": f.Disabled, "OS-FLV-EXT-DATA:ephemeral": 0,
					"os-flavor-access:is_public": true, "swap": "", "rxtx_factor": 1.0,
				}})
				d.reply(w, 200, b)
				return
			}
		}
		d.reply(w, 404, []byte(`{"itemNotFound":{"code":404,"message":"Flavor could not be found."}}`))
	case rest == "servers/detail" && r.Method == http.MethodGet:
		// GET /servers/detail (Compute API reference, "List Servers
		// Detailed"): the name filter is a regular expression.
		re, err := regexp.Compile(r.URL.Query().Get("name"))
		if err != nil {
			d.reply(w, 400, []byte(`{"badRequest":{"code":400,"message":"Invalid name filter"}}`))
			return
		}
		list := []json.RawMessage{}
		for _, id := range slices.Sorted(maps.Keys(d.servers)) {
			s := d.servers[id]
			if !re.MatchString(s.Name) {
				continue
			}
			var one struct {
				Server json.RawMessage `json:"server"`
			}
			json.Unmarshal(d.render("nova/server-get-response.json", d.serverData(s, compute)), &one)
			list = append(list, one.Server)
		}
		b, _ := json.Marshal(map[string]any{"servers": list})
		d.reply(w, 200, b)
	case rest == "servers" && r.Method == http.MethodPost:
		d.createServer(w, r, compute)
	case len(seg) >= 2 && seg[0] == "servers":
		s := d.servers[seg[1]]
		if s == nil {
			d.reply(w, 404, d.render("nova/error-not-found.json", map[string]string{"ID": seg[1]}))
			return
		}
		switch {
		case len(seg) == 2 && r.Method == http.MethodGet:
			d.reply(w, 200, d.render("nova/server-get-response.json", d.serverData(s, compute)))
			if s.next != nil {
				next := s.next
				s.next = nil
				next(s)
			}
		case len(seg) == 2 && r.Method == http.MethodDelete:
			delete(d.servers, s.ID)
			w.WriteHeader(http.StatusNoContent)
		case len(seg) == 3 && seg[2] == "action" && r.Method == http.MethodPost:
			d.serverAction(w, r, s, compute)
		default:
			d.reply(w, 404, d.render("nova/error-not-found.json", map[string]string{"ID": seg[1]}))
		}
	default:
		http.NotFound(w, r)
	}
}

func (d *double) createServer(w http.ResponseWriter, r *http.Request, compute string) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		d.reply(w, 400, []byte(`{"badRequest":{"code":400,"message":"Malformed request body"}}`))
		return
	}
	d.createBody = body
	var req struct {
		Server struct {
			Name      string            `json:"name"`
			ImageRef  string            `json:"imageRef"`
			FlavorRef string            `json:"flavorRef"`
			Metadata  map[string]string `json:"metadata"`
		} `json:"server"`
	}
	raw, _ := json.Marshal(body)
	json.Unmarshal(raw, &req)
	var fl *flavor
	for _, f := range d.flavors(compute) {
		if f.ID == req.Server.FlavorRef {
			fl = &f
		}
	}
	if req.Server.Name == "" || req.Server.ImageRef == "" || fl == nil {
		d.reply(w, 400, []byte(`{"badRequest":{"code":400,"message":"Invalid name, imageRef or flavorRef"}}`))
		return
	}
	if fl.VCPUs > d.quotaCores {
		d.reply(w, 403, d.render("nova/error-quota.json", nil))
		return
	}
	d.nextServer++
	s := &fakeServer{
		ID:   fmt.Sprintf("0e44cc9c-e052-415d-afbf-%012d", d.nextServer),
		Name: req.Server.Name, Flavor: fl.ID, Image: req.Server.ImageRef, Metadata: req.Server.Metadata,
		Status: "BUILD", VMState: "building", TaskState: "spawning",
	}
	s.next = func(s *fakeServer) {
		if s.Image == "img-no-host" {
			s.Status, s.VMState, s.TaskState = "ERROR", "error", ""
			s.Fault = "No valid host was found. There are not enough hosts available."
			return
		}
		s.Status, s.VMState, s.TaskState, s.Address = "ACTIVE", "active", "", "10.0.0.5"
	}
	d.servers[s.ID] = s
	if d.loseCreates > 0 {
		d.loseCreates--
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			d.t.Error(err)
			return
		}
		conn.Close()
		return
	}
	d.reply(w, 202, d.render("nova/server-create-response.json", d.serverData(s, compute)))
}

// actionRules: the statuses an action is allowed from, the task state and
// status while it runs, and the status it ends in.
var actionRules = map[string]struct {
	from           []string
	task, running  string
	final, vmState string
}{
	"os-start":      {[]string{"SHUTOFF"}, "powering-on", "SHUTOFF", "ACTIVE", "active"},
	"os-stop":       {[]string{"ACTIVE", "ERROR", "RESCUE"}, "powering-off", "ACTIVE", "SHUTOFF", "stopped"},
	"suspend":       {[]string{"ACTIVE", "PAUSED"}, "suspending", "ACTIVE", "SUSPENDED", "suspended"},
	"resume":        {[]string{"SUSPENDED"}, "resuming", "SUSPENDED", "ACTIVE", "active"},
	"unpause":       {[]string{"PAUSED"}, "unpausing", "PAUSED", "ACTIVE", "active"},
	"reboot":        {[]string{"ACTIVE", "SHUTOFF", "SUSPENDED", "PAUSED", "ERROR"}, "rebooting", "REBOOT", "ACTIVE", "active"},
	"resize":        {[]string{"ACTIVE", "SHUTOFF"}, "resize_prep", "RESIZE", "VERIFY_RESIZE", "resized"},
	"confirmResize": {[]string{"VERIFY_RESIZE"}, "", "VERIFY_RESIZE", "ACTIVE", "active"},
	"createImage":   {[]string{"ACTIVE", "SHUTOFF", "SUSPENDED", "PAUSED"}, "image_snapshot", "", "", ""},
}

func (d *double) serverAction(w http.ResponseWriter, r *http.Request, s *fakeServer, compute string) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body) != 1 {
		d.reply(w, 400, []byte(`{"badRequest":{"code":400,"message":"Malformed request body"}}`))
		return
	}
	var name string
	for k := range body {
		name = k
	}
	d.actions = append(d.actions, name+" "+string(body[name]))
	rule, ok := actionRules[name]
	if !ok {
		d.reply(w, 400, []byte(`{"badRequest":{"code":400,"message":"There is no such action"}}`))
		return
	}
	allowed := false
	for _, st := range rule.from {
		allowed = allowed || st == s.Status
	}
	if !allowed || (s.TaskState != "" && name != "confirmResize") {
		d.reply(w, 409, d.render("nova/error-conflict.json", map[string]string{"Action": name, "ID": s.ID, "VMState": s.VMState}))
		return
	}
	switch name {
	case "reboot":
		var rb struct {
			Type string `json:"type"`
		}
		json.Unmarshal(body[name], &rb)
		if rb.Type == "HARD" {
			rule.running = "HARD_REBOOT"
			rule.task = "rebooting_hard"
		} else if s.Status != "ACTIVE" {
			d.reply(w, 409, d.render("nova/error-conflict.json", map[string]string{"Action": name, "ID": s.ID, "VMState": s.VMState}))
			return
		}
	case "resize":
		var rz struct {
			FlavorRef string `json:"flavorRef"`
		}
		json.Unmarshal(body[name], &rz)
		newFlavor := rz.FlavorRef
		for _, f := range d.flavors(compute) {
			if f.ID == newFlavor && f.VCPUs > d.quotaCores {
				// Nova checks the project's quota for the new flavor
				// and answers 403 as for a create.
				d.reply(w, 403, d.render("nova/error-quota.json", nil))
				return
			}
		}
		s.next = func(s *fakeServer) { s.Flavor = newFlavor }
	case "createImage":
		w.Header().Set("Location", d.srv.URL+"/image/v2/images/7c1e2a3b-4d5e-6f70-8192-a3b4c5d6e7f8")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	prevNext := s.next
	s.TaskState = rule.task
	if rule.running != "" {
		s.Status = rule.running
	}
	final, vm := rule.final, rule.vmState
	s.next = func(s *fakeServer) {
		if prevNext != nil {
			prevNext(s)
		}
		s.Status, s.VMState, s.TaskState = final, vm, ""
	}
	if name == "confirmResize" {
		s.next(s)
		s.next = nil
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// sameShape reports the first difference between the key structure and
// value types of a reference JSON document and got: every key of the
// reference must be in got with a value of the same JSON type (got may
// carry more). "metadata" objects have free-form keys.
func sameShape(ref, got any, path string) string {
	switch r := ref.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %T", path, got)
		}
		if strings.HasSuffix(path, ".metadata") {
			return "" // free-form keys
		}
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if diff := sameShape(r[k], gv, path+"."+k); diff != "" {
				return diff
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: want an array, got %T", path, got)
		}
		if len(r) > 0 && len(g) > 0 {
			return sameShape(r[0], g[0], path+"[0]")
		}
	default:
		if reflect.TypeOf(ref) != reflect.TypeOf(got) {
			return fmt.Sprintf("%s: want %T, got %T", path, ref, got)
		}
	}
	return ""
}

func readJSON(t *testing.T, name string) any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}
