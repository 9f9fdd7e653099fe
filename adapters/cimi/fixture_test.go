package cimi_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// fixture is a CIMI peer built from the DSP0263-shaped bodies in
// testdata/dsp0263. Unlike the sandbox it creates machines asynchronously
// (202 Accepted + Location + CIMI-Job-URI, state CREATING until the Job
// is read and done), runs actions through Jobs, and deletes machines with
// 202. Volumes and networks are created synchronously (201).
type fixture struct {
	t   *testing.T
	srv *httptest.Server
	// base is how the fixture names itself in ids, Location and
	// CIMI-Job-URI: its own URL, or (newFixtureAs) another host name, as
	// a provider behind a proxy does.
	base string

	mu     sync.Mutex
	tmpl   map[string][]byte
	res    map[string]map[string]any // path ("/machines/3") -> resource
	jobs   map[string]*fixtureJob
	next   int
	faults adaptertest.Faults
	// page, when not 0, is the most members a collection answer holds
	// (DSP0263 5.5.12: count says how many there are); $first and $last
	// select the window (4.1.6.2). A paged fixture also lists a second
	// machine image before the example's, so that one is on page 2.
	page int
}

type fixtureJob struct {
	obj    map[string]any
	onDone func()
	done   bool
}

func newFixture(t *testing.T) *fixture { return newFixtureAs(t, "") }

// newFixtureAs is a fixture that names itself base (scheme and host) in
// the hrefs it answers, while it is reached at f.srv.URL; "" is its own
// URL.
func newFixtureAs(t *testing.T, base string) *fixture {
	f := &fixture{t: t, tmpl: map[string][]byte{}, res: map[string]map[string]any{}, jobs: map[string]*fixtureJob{}}
	files, err := filepath.Glob("testdata/dsp0263/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixture bodies: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f.tmpl[strings.TrimSuffix(filepath.Base(file), ".json")] = data
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.base = cmp.Or(base, f.srv.URL)
	t.Cleanup(func() {
		f.setFault(adaptertest.Fault{})
		f.srv.Close()
	})
	return f
}

func (f *fixture) setFault(ft adaptertest.Fault) { f.faults.Apply(ft) }

// setPage makes collection answers hold at most n members (0: all).
func (f *fixture) setPage(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.page = n
}

// window applies $first and $last (1-based, inclusive) and the page
// size to the members of a collection answer; count stays the
// collection's.
func (f *fixture) window(out map[string]any, q url.Values) {
	if _, ok := out["count"]; !ok || f.page == 0 {
		return
	}
	for k, v := range out {
		items, ok := v.([]any)
		if !ok || k == "operations" {
			continue
		}
		from, to := 0, len(items)
		if n, err := strconv.Atoi(q.Get("$first")); err == nil && n >= 1 {
			from = min(n-1, len(items))
		}
		if n, err := strconv.Atoi(q.Get("$last")); err == nil && n >= 1 {
			to = min(n, len(items))
		}
		to = max(from, min(to, from+f.page))
		out[k] = items[from:to]
	}
}

func (f *fixture) inventory() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.res)
}

// body returns a template with the example base replaced by ours.
func (f *fixture) body(name string) map[string]any {
	var m map[string]any
	data := strings.ReplaceAll(string(f.tmpl[name]), "http://example.com", f.base)
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		f.t.Fatalf("template %s: %v", name, err)
	}
	return m
}

func (f *fixture) serve(w http.ResponseWriter, r *http.Request) {
	if f.faults.Intercept(w, r, func(w http.ResponseWriter, status int) {
		http.Error(w, "fixture: injected fault", status)
	}) {
		return
	}
	if r.Header.Get(cimi.VersionHeader) == "" {
		http.Error(w, "missing "+cimi.VersionHeader, http.StatusBadRequest)
		return
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPut) && r.Header.Get("Content-Type") != cimi.MediaType {
		http.Error(w, "unsupported media type", http.StatusUnsupportedMediaType)
		return
	}
	var in map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	f.mu.Lock()
	status, hdr, out := f.route(r.Method, r.URL.Path, in)
	if r.Method == http.MethodGet && out != nil {
		f.window(out, r.URL.Query())
	}
	f.mu.Unlock()
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	if out == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", cimi.MediaType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fixture) newID(coll string) string {
	f.next++
	return fmt.Sprintf("/%s/%d", coll, f.next)
}

func (f *fixture) newJob(target string, action string, onDone func()) string {
	p := f.newID("jobs")
	j := f.body("job")
	j["id"], j["action"], j["state"] = f.base+p, action, "RUNNING"
	j["targetResource"] = map[string]any{"href": f.base + target}
	f.jobs[p] = &fixtureJob{obj: j, onDone: onDone}
	return p
}

func msg(status int, format string, args ...any) (int, map[string]string, map[string]any) {
	return status, nil, map[string]any{"message": fmt.Sprintf(format, args...)}
}

// pathOf is the path of a reference's href, whichever host it names.
func (f *fixture) pathOf(v any) string {
	m, _ := v.(map[string]any)
	href, _ := m["href"].(string)
	u, err := url.Parse(href)
	if err != nil {
		return ""
	}
	return u.Path
}

func (f *fixture) machineOps(m map[string]any) {
	id := m["id"].(string)
	ops := []any{map[string]any{"rel": "edit", "href": id}, map[string]any{"rel": "delete", "href": id}}
	add := func(a string) {
		ops = append(ops, map[string]any{"rel": cimi.ActionNS + a, "href": id + "/" + a})
	}
	switch m["state"] {
	case "STARTED":
		add("stop")
		add("restart")
		add("suspend")
	case "STOPPED", "SUSPENDED":
		add("start")
	}
	m["operations"] = ops
}

// collection lists the resources under /coll/, oldest first (a stable
// order, so that pages do not overlap).
func (f *fixture) collection(coll, member string) map[string]any {
	var paths []string
	for p := range f.res {
		if strings.HasPrefix(p, "/"+coll+"/") && strings.Count(p, "/") == 2 {
			paths = append(paths, p)
		}
	}
	slices.SortFunc(paths, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	var items []any
	for _, p := range paths {
		items = append(items, f.res[p])
	}
	return map[string]any{"resourceURI": cimi.NS + "/Collection", "id": f.base + "/" + coll, "count": len(items), member: items}
}

var machineTransitions = map[string][2]string{
	"start": {"STARTING", "STARTED"}, "stop": {"STOPPING", "STOPPED"},
	"restart": {"STARTING", "STARTED"}, "suspend": {"SUSPENDING", "SUSPENDED"},
}

func (f *fixture) route(method, path string, in map[string]any) (int, map[string]string, map[string]any) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case method == http.MethodGet && path == "/cep":
		return 200, nil, f.body("cep")
	case method == http.MethodGet && path == "/images" && f.page > 0:
		b := f.body("images")
		other := map[string]any{"resourceURI": cimi.NS + "/MachineImage", "id": f.base + "/images/debian-12", "name": "debian-12", "state": "AVAILABLE"}
		b["machineImages"] = append([]any{other}, b["machineImages"].([]any)...)
		b["count"] = len(b["machineImages"].([]any))
		return 200, nil, b
	case method == http.MethodGet && (path == "/configs" || path == "/images" || path == "/volumeConfigs"):
		return 200, nil, f.body(strings.TrimPrefix(path, "/"))
	case method == http.MethodGet && path == "/machines":
		return 200, nil, f.collection("machines", "machines")
	case method == http.MethodGet && path == "/volumes":
		return 200, nil, f.collection("volumes", "volumes")
	case method == http.MethodGet && path == "/networks":
		return 200, nil, f.collection("networks", "networks")
	case method == http.MethodGet && len(parts) == 2 && parts[0] == "jobs":
		j, ok := f.jobs[path]
		if !ok {
			return msg(404, "no job %s", path)
		}
		if !j.done {
			j.done = true
			j.obj["state"], j.obj["progress"] = "SUCCESS", 100
			if j.onDone != nil {
				j.onDone()
			}
			// Answer RUNNING this time: the next read sees SUCCESS.
			cp := map[string]any{}
			for k, v := range j.obj {
				cp[k] = v
			}
			cp["state"], cp["progress"] = "RUNNING", 50
			return 200, nil, cp
		}
		return 200, nil, j.obj
	case method == http.MethodPost && path == "/machines":
		if in["resourceURI"] != cimi.NS+"/MachineCreate" {
			return msg(400, "resourceURI must be MachineCreate")
		}
		tmpl, _ := in["machineTemplate"].(map[string]any)
		cfg, _ := tmpl["machineConfig"].(map[string]any)
		if cfg == nil || cfg["cpu"] == nil || cfg["memory"] == nil {
			return msg(400, "machineConfig with cpu and memory required")
		}
		if img := f.pathOf(tmpl["machineImage"]); img != "/images/WinXP-SP2" {
			return msg(400, "unknown machine image %q", img)
		}
		p := f.newID("machines")
		m := f.body("machine")
		id := f.base + p
		m["id"], m["name"], m["cpu"], m["memory"], m["cpuArch"] = id, in["name"], cfg["cpu"], cfg["memory"], cfg["cpuArch"]
		m["properties"] = in["properties"]
		m["volumes"] = map[string]any{"href": id + "/volumes"}
		m["state"] = "CREATING"
		f.machineOps(m)
		f.res[p] = m
		job := f.newJob(p, "add", func() {
			if m, ok := f.res[p]; ok {
				m["state"] = "STARTED"
				f.machineOps(m)
			}
		})
		return http.StatusAccepted, map[string]string{"Location": id, cimi.JobHeader: f.base + job}, m
	case method == http.MethodPost && path == "/volumes":
		tmpl, _ := in["volumeTemplate"].(map[string]any)
		cfg, _ := tmpl["volumeConfig"].(map[string]any)
		if in["resourceURI"] != cimi.NS+"/VolumeCreate" || cfg == nil || cfg["capacity"] == nil {
			return msg(400, "VolumeCreate with volumeConfig.capacity required")
		}
		p := f.newID("volumes")
		v := f.body("volume")
		v["id"], v["name"], v["capacity"], v["state"], v["properties"] = f.base+p, in["name"], cfg["capacity"], "AVAILABLE", in["properties"]
		v["operations"] = []any{map[string]any{"rel": "edit", "href": f.base + p}, map[string]any{"rel": "delete", "href": f.base + p}}
		f.res[p] = v
		return http.StatusCreated, map[string]string{"Location": f.base + p}, v
	case method == http.MethodPost && path == "/networks":
		if in["resourceURI"] != cimi.NS+"/NetworkCreate" {
			return msg(400, "resourceURI must be NetworkCreate")
		}
		p := f.newID("networks")
		n := f.body("network")
		n["id"], n["name"], n["state"], n["properties"] = f.base+p, in["name"], "STARTED", in["properties"]
		f.networkOps(n)
		f.res[p] = n
		return http.StatusCreated, map[string]string{"Location": f.base + p}, n
	case len(parts) == 3 && parts[0] == "machines" && parts[2] == "volumes" && method == http.MethodGet:
		// DSP0263 5.14.3: the MachineVolumeCollection of a machine.
		mp := "/machines/" + parts[1]
		if _, ok := f.res[mp]; !ok {
			return msg(404, "no machine %s", mp)
		}
		var items []any
		for p, r := range f.res {
			if strings.HasPrefix(p, mp+"/volumes/") {
				items = append(items, r)
			}
		}
		return 200, nil, map[string]any{"resourceURI": cimi.NS + "/MachineVolumeCollection", "id": f.base + path, "count": len(items), "machineVolumes": items}
	case len(parts) == 3 && parts[0] == "machines" && parts[2] == "volumes" && method == http.MethodPost:
		mp := "/machines/" + parts[1]
		if _, ok := f.res[mp]; !ok {
			return msg(404, "no machine %s", mp)
		}
		vol := f.pathOf(in["volume"])
		if _, ok := f.res[vol]; !ok || in["resourceURI"] != cimi.NS+"/MachineVolume" {
			return msg(400, "MachineVolume with an existing volume required")
		}
		p := fmt.Sprintf("%s/volumes/%d", mp, f.next+1)
		f.next++
		mv := f.body("machineVolume")
		mv["id"], mv["volume"], mv["initialLocation"] = f.base+p, map[string]any{"href": f.base + vol}, in["initialLocation"]
		mv["operations"] = []any{map[string]any{"rel": "delete", "href": f.base + p}}
		f.res[p] = mv
		return http.StatusCreated, map[string]string{"Location": f.base + p}, mv
	case len(parts) == 3 && method == http.MethodPost:
		rp := "/" + parts[0] + "/" + parts[1]
		r, ok := f.res[rp]
		if !ok {
			return msg(404, "no resource %s", rp)
		}
		if in["action"] != cimi.ActionNS+parts[2] {
			return msg(400, "action %v does not match %s", in["action"], parts[2])
		}
		if parts[0] == "networks" {
			switch {
			case parts[2] == "stop" && r["state"] == "STARTED":
				r["state"] = "STOPPED"
			case parts[2] == "start" && r["state"] == "STOPPED":
				r["state"] = "STARTED"
			default:
				return msg(409, "cannot %s in state %v", parts[2], r["state"])
			}
			f.networkOps(r)
			return http.StatusAccepted, map[string]string{cimi.JobHeader: f.base + f.newJob(rp, in["action"].(string), nil)}, nil
		}
		tr, ok := machineTransitions[parts[2]]
		if !ok || op(r, cimi.ActionNS+parts[2]) == "" {
			return msg(409, "cannot %s in state %v", parts[2], r["state"])
		}
		r["state"] = tr[0]
		f.machineOps(r)
		job := f.newJob(rp, in["action"].(string), func() {
			if m, ok := f.res[rp]; ok {
				m["state"] = tr[1]
				f.machineOps(m)
			}
		})
		return http.StatusAccepted, map[string]string{cimi.JobHeader: f.base + job}, nil
	}
	r, ok := f.res[path]
	if !ok {
		return msg(404, "no resource %s", path)
	}
	switch method {
	case http.MethodGet:
		return 200, nil, r
	case http.MethodPut:
		for _, k := range []string{"cpu", "memory", "capacity"} {
			if v, ok := in[k]; ok && r[k] != nil {
				r[k] = v
			}
		}
		return 200, nil, r
	case http.MethodDelete:
		if parts[0] == "volumes" {
			for p, x := range f.res {
				if strings.Contains(p, "/volumes/") && strings.HasPrefix(p, "/machines/") && f.pathOf(x["volume"]) == path {
					return msg(409, "volume %s is attached", path)
				}
			}
		}
		delete(f.res, path)
		if parts[0] == "machines" && len(parts) == 2 {
			for p := range f.res {
				if strings.HasPrefix(p, path+"/") {
					delete(f.res, p)
				}
			}
			return http.StatusAccepted, map[string]string{cimi.JobHeader: f.base + f.newJob(path, "delete", nil)}, nil
		}
		return 200, nil, nil
	}
	return msg(405, "method not allowed")
}

func (f *fixture) networkOps(n map[string]any) {
	id := n["id"].(string)
	ops := []any{map[string]any{"rel": "delete", "href": id}}
	if n["state"] == "STARTED" {
		ops = append(ops, map[string]any{"rel": cimi.ActionNS + "stop", "href": id + "/stop"})
	} else {
		ops = append(ops, map[string]any{"rel": cimi.ActionNS + "start", "href": id + "/start"})
	}
	n["operations"] = ops
}

func op(r map[string]any, rel string) string {
	ops, _ := r["operations"].([]any)
	for _, o := range ops {
		m, _ := o.(map[string]any)
		if m["rel"] == rel {
			s, _ := m["href"].(string)
			return s
		}
	}
	return ""
}

// TestConformanceFixture runs the kit against the DSP0263 fixture, a peer
// that is not the sandbox.
func TestConformanceFixture(t *testing.T) {
	f := newFixture(t)
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter {
			a, err := cimi.New(cimi.Config{Endpoint: f.base + "/cep"})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Cases:       cases(),
		Unsupported: unsupportedReqs(),
		Fault:       f.setFault,
		Inventory:   f.inventory,
	})
}

// TestDiscoverFixture reads the example MachineConfigurations: memory in
// KiB becomes GB, disks and the volume configuration give the storage size.
func TestDiscoverFixture(t *testing.T) {
	f := newFixture(t)
	a, _ := cimi.New(cimi.Config{Endpoint: f.base + "/cep"})
	svcs, err := a.Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 || svcs[0].ID != "cimi-tiny" || svcs[1].ID != "cimi-big" {
		t.Fatalf("services %+v", svcs)
	}
	tiny, big := svcs[0].IaaS, svcs[1].IaaS
	if *tiny.Compute.Cores != 1 || *tiny.Compute.Memory != 4 || *tiny.Storage.Size != 100 {
		t.Errorf("tiny: %d cores %d GB, storage %d GB", *tiny.Compute.Cores, *tiny.Compute.Memory, *tiny.Storage.Size)
	}
	if *big.Compute.Cores != 8 || *big.Compute.Memory != 32 || *big.Storage.Size != 200 {
		t.Errorf("big: %d cores %d GB, storage %d GB", *big.Compute.Cores, *big.Compute.Memory, *big.Storage.Size)
	}
}
