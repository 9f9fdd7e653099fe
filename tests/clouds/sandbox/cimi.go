package sandbox

// The sandbox's CIMI API (DSP0263, JSON binding): its state, the HTTP
// handler and the routing. Renderings are in cimi_render.go, creates in
// cimi_create.go, reads, edits, deletes and actions in cimi_resource.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// CIMI protocol constants (DSP0263, JSON binding).
const (
	cimiNS          = "http://schemas.dmtf.org/cimi/1"
	cimiActionNS    = cimiNS + "/action/"
	cimiVersion     = "1.1.0"
	cimiVersionHdr  = "CIMI-Specification-Version"
	cimiJobHdr      = "CIMI-Job-URI"
	cimiContentType = "application/json"
)

// machine states (DSP0263 Machine.state).
const (
	stCreating   = "CREATING"
	stStarting   = "STARTING"
	stStarted    = "STARTED"
	stStopping   = "STOPPING"
	stStopped    = "STOPPED"
	stSuspending = "SUSPENDING"
	stSuspended  = "SUSPENDED"
	stError      = "ERROR"
	stAvailable  = "AVAILABLE" // volumes
)

type machineConfig struct {
	name               string
	cpu                uint64
	memKiB             uint64
	diskKiB            uint64
	description, image string
}

// The cloud's fixed offers: machine configurations, images and volume
// configurations. A MachineCreate may also carry an inline configuration
// of any size that fits.
var (
	sandboxConfigs = []machineConfig{
		{name: "small", cpu: 1, memKiB: 1 * kibPerGiB, diskKiB: 10 * kibPerGiB},
		{name: "medium", cpu: 2, memKiB: 4 * kibPerGiB, diskKiB: 20 * kibPerGiB},
		{name: "large", cpu: 4, memKiB: 8 * kibPerGiB, diskKiB: 40 * kibPerGiB},
	}
	sandboxImages        = []string{"debian-12", "alpine-3"}
	sandboxVolumeConfigs = []struct {
		name   string
		capKiB uint64
	}{{"vol-10g", 10 * kibPerGiB}, {"vol-100g", 100 * kibPerGiB}}
)

type machine struct {
	id, name, description string
	cpu, memKiB, diskKiB  uint64
	arch                  string
	state, target         string // target is the state a transition ends in
	readyAt               time.Time
	created, updated      time.Time
	attachments           map[string]*attachment // key: path "machines/1/volumes/2"
	nics                  []string               // network paths
	props                 map[string]string
}

type attachment struct {
	id, volume, location string
}

type volume struct {
	id, name, format, typ string
	capKiB                uint64
	created               time.Time
	attachedTo            string // machine path
	props                 map[string]string
}

type network struct {
	id, name, typ, state string
	mtu                  int
	system               bool
	props                map[string]string
	created              time.Time
}

type job struct {
	id, action, target string
	affected           []string
	created, readyAt   time.Time
}

func (c *Cloud) initCIMI() {
	c.networks["networks/public"] = &network{id: "networks/public", name: "public", typ: "PUBLIC", state: stStarted, mtu: 1500, system: true, created: c.clk.Now()}
}

// CIMI returns the cloud's CIMI API. prefix is the path it is mounted at
// ("/cimi"); resource ids are absolute URLs built from the request's
// scheme, host and prefix.
func (c *Cloud) CIMI(prefix string) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	return c.withFaults(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix) {
			http.NotFound(w, r)
			return
		}
		rest := strings.Trim(strings.TrimPrefix(r.URL.Path, prefix), "/")
		base := baseURL(r, prefix)
		w.Header().Set(cimiVersionHdr, cimiVersion)
		status, hdr, body := c.serveCIMI(r, rest, base)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		writeJSON(w, status, cimiContentType, body)
	}))
}

func baseURL(r *http.Request, prefix string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + prefix
}

func errResp(status int, format string, args ...any) (int, map[string]string, any) {
	return status, nil, map[string]string{"error": fmt.Sprintf(format, args...)}
}

// serveCIMI routes one CIMI request. It returns the status, extra headers
// and the JSON body (nil for none).
func (c *Cloud) serveCIMI(r *http.Request, rest, base string) (int, map[string]string, any) {
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != cimiContentType {
			return errResp(http.StatusUnsupportedMediaType, "content type must be %s", cimiContentType)
		}
	}
	if a := r.Header.Get("Accept"); a != "" && !acceptsJSON(a) {
		return errResp(http.StatusNotAcceptable, "only %s is served", cimiContentType)
	}
	parts := strings.Split(rest, "/")
	if rest == "" {
		parts = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settleLocked()
	u := func(p string) string { return base + "/" + p }
	switch {
	case len(parts) == 0:
		if r.Method != http.MethodGet {
			return methodNotAllowed()
		}
		return http.StatusOK, nil, c.cepLocked(base)
	case len(parts) == 1:
		return c.collectionLocked(r, parts[0], u)
	case len(parts) == 2:
		return c.resourceLocked(r, parts[0]+"/"+parts[1], u)
	case len(parts) == 3 && parts[0] == "machines" && parts[2] == "volumes":
		return c.machineVolumesLocked(r, parts[0]+"/"+parts[1], u)
	case len(parts) == 3 && (parts[0] == "machines" || parts[0] == "networks"):
		if r.Method != http.MethodPost {
			return methodNotAllowed()
		}
		return c.actionLocked(r, parts[0]+"/"+parts[1], parts[2], u)
	case len(parts) == 4 && parts[0] == "machines" && parts[2] == "volumes":
		return c.machineVolumeLocked(r, strings.Join(parts, "/"), u)
	}
	return errResp(http.StatusNotFound, "no resource %q", rest)
}

func methodNotAllowed() (int, map[string]string, any) {
	return errResp(http.StatusMethodNotAllowed, "method not allowed")
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case "application/json", "application/*", "*/*", "":
			return true
		}
	}
	return false
}

// settleLocked completes every transition whose time has come.
func (c *Cloud) settleLocked() {
	now := c.clk.Now()
	for m := range c.moving {
		if !now.Before(m.readyAt) {
			m.state, m.target = m.target, ""
			m.updated = now
			delete(c.moving, m)
		}
	}
}

// moveLocked starts m's transition through state via to target, which
// it reaches once the cloud's build time has passed.
func (c *Cloud) moveLocked(m *machine, via, target string) {
	m.state, m.target, m.readyAt = via, target, c.clk.Now().Add(c.cfg.BuildTime)
	c.moving[m] = struct{}{}
}

// decodeBody reads a JSON request body (at most 1 MiB).
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

type hrefJSON struct {
	Href string `json:"href"`
}

// pathOf turns an href (absolute, or relative to the CIMI root) into a
// resource path ("machines/3").
func pathOf(href, base string) string {
	href = strings.TrimPrefix(href, base)
	if i := strings.Index(href, "://"); i >= 0 {
		// Absolute URL with another host name for this cloud: keep the path
		// after the collection name.
		rest := href[i+3:]
		if j := strings.Index(rest, "/"); j >= 0 {
			href = rest[j:]
		}
	}
	href = strings.Trim(href, "/")
	parts := strings.Split(href, "/")
	if len(parts) >= 2 {
		return strings.Join(parts[len(parts)-2:], "/")
	}
	return href
}

func writeJSON(w http.ResponseWriter, status int, ct string, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "encoding answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
