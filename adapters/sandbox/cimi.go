package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
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
	c.networks["networks/public"] = &network{id: "networks/public", name: "public", typ: "PUBLIC", state: stStarted, mtu: 1500, system: true, created: c.now()}
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

func (c *Cloud) cepLocked(base string) any {
	col := func(name string) map[string]string { return map[string]string{"href": base + "/" + name} }
	return map[string]any{
		"resourceURI":      cimiNS + "/CloudEntryPoint",
		"id":               base,
		"name":             c.cfg.ProviderID,
		"description":      "caddy-csb sandbox cloud",
		"baseURI":          base + "/",
		"machines":         col("machines"),
		"machineConfigs":   col("machineConfigs"),
		"machineImages":    col("machineImages"),
		"machineTemplates": col("machineTemplates"),
		"volumes":          col("volumes"),
		"volumeConfigs":    col("volumeConfigs"),
		"networks":         col("networks"),
		"jobs":             col("jobs"),
		"properties":       map[string]string{"price": fmt.Sprint(c.cfg.Price)},
	}
}

// settleLocked completes every transition whose time has come.
func (c *Cloud) settleLocked() {
	now := c.now()
	for _, m := range c.machines {
		if m.target != "" && !now.Before(m.readyAt) {
			m.state, m.target = m.target, ""
			m.updated = now
		}
	}
}

func (c *Cloud) collectionLocked(r *http.Request, name string, u func(string) string) (int, map[string]string, any) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		switch name {
		case "machines":
			return c.createMachineLocked(r, u)
		case "volumes":
			return c.createVolumeLocked(r, u)
		case "networks":
			return c.createNetworkLocked(r, u)
		}
		return methodNotAllowed()
	default:
		return methodNotAllowed()
	}
	var items []any
	var member, typ string
	switch name {
	case "machineConfigs":
		member, typ = "machineConfigurations", "MachineConfigurationCollection"
		for _, mc := range sandboxConfigs {
			items = append(items, c.machineConfigJSON(mc, u))
		}
	case "machineImages":
		member, typ = "machineImages", "MachineImageCollection"
		for _, img := range sandboxImages {
			items = append(items, imageJSON(img, u))
		}
	case "machineTemplates":
		member, typ = "machineTemplates", "MachineTemplateCollection"
	case "volumeConfigs":
		member, typ = "volumeConfigurations", "VolumeConfigurationCollection"
		for _, vc := range sandboxVolumeConfigs {
			items = append(items, map[string]any{"resourceURI": cimiNS + "/VolumeConfiguration", "id": u("volumeConfigs/" + vc.name), "name": vc.name, "type": cimiNS + "/mapped", "format": "ext4", "capacity": vc.capKiB})
		}
	case "machines":
		member, typ = "machines", "MachineCollection"
		for _, k := range sortedKeys(c.machines) {
			items = append(items, c.machineJSON(c.machines[k], u))
		}
	case "volumes":
		member, typ = "volumes", "VolumeCollection"
		for _, k := range sortedKeys(c.volumes) {
			items = append(items, volumeJSON(c.volumes[k], u))
		}
	case "networks":
		member, typ = "networks", "NetworkCollection"
		for _, k := range sortedKeys(c.networks) {
			items = append(items, networkJSON(c.networks[k], u))
		}
	case "jobs":
		member, typ = "jobs", "JobCollection"
		for _, k := range sortedKeys(c.jobs) {
			items = append(items, c.jobJSON(c.jobs[k], u))
		}
	default:
		return errResp(http.StatusNotFound, "no collection %q", name)
	}
	ops := []map[string]string{}
	switch name {
	case "machines", "volumes", "networks":
		ops = append(ops, map[string]string{"rel": "add", "href": u(name)})
	}
	body := map[string]any{"resourceURI": cimiNS + "/" + typ, "id": u(name), "count": len(items), "operations": ops}
	if len(items) > 0 {
		body[member] = items
	}
	return http.StatusOK, nil, body
}

func sortedKeys[T any](m map[string]T) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if len(ks[i]) != len(ks[j]) {
			return len(ks[i]) < len(ks[j])
		}
		return ks[i] < ks[j]
	})
	return ks
}

func (c *Cloud) machineConfigJSON(mc machineConfig, u func(string) string) any {
	return map[string]any{
		"resourceURI": cimiNS + "/MachineConfiguration",
		"id":          u("machineConfigs/" + mc.name),
		"name":        mc.name,
		"cpu":         mc.cpu,
		"memory":      mc.memKiB,
		"cpuArch":     c.cfg.Architecture,
		"disks":       []any{map[string]any{"capacity": mc.diskKiB, "format": "ext4"}},
	}
}

func imageJSON(name string, u func(string) string) any {
	return map[string]any{
		"resourceURI":   cimiNS + "/MachineImage",
		"id":            u("machineImages/" + name),
		"name":          name,
		"state":         stAvailable,
		"type":          "IMAGE",
		"imageLocation": "sandbox://" + name,
	}
}

func (c *Cloud) machineJSON(m *machine, u func(string) string) any {
	id := u(m.id)
	ops := []map[string]string{{"rel": "edit", "href": id}, {"rel": "delete", "href": id}}
	act := func(a string) { ops = append(ops, map[string]string{"rel": cimiActionNS + a, "href": id + "/" + a}) }
	switch m.state {
	case stStopped:
		act("start")
	case stStarted:
		act("stop")
		act("restart")
		act("suspend")
	case stSuspended:
		act("start")
		act("stop")
	}
	var nics []any
	for _, n := range m.nics {
		nics = append(nics, map[string]any{"network": map[string]string{"href": u(n)}})
	}
	out := map[string]any{
		"resourceURI":       cimiNS + "/Machine",
		"id":                id,
		"name":              m.name,
		"description":       m.description,
		"created":           m.created.UTC().Format(time.RFC3339),
		"updated":           m.updated.UTC().Format(time.RFC3339),
		"state":             m.state,
		"cpu":               m.cpu,
		"memory":            m.memKiB,
		"cpuArch":           m.arch,
		"disks":             map[string]string{"href": id + "/disks"},
		"volumes":           map[string]string{"href": id + "/volumes"},
		"networkInterfaces": map[string]any{"href": id + "/networkInterfaces", "networkInterfaces": nics},
		"operations":        ops,
	}
	if len(m.props) > 0 {
		out["properties"] = m.props
	}
	return out
}

func volumeJSON(v *volume, u func(string) string) any {
	id := u(v.id)
	out := map[string]any{
		"resourceURI": cimiNS + "/Volume",
		"id":          id,
		"name":        v.name,
		"created":     v.created.UTC().Format(time.RFC3339),
		"state":       stAvailable,
		"type":        v.typ,
		"format":      v.format,
		"capacity":    v.capKiB,
		"bootable":    false,
		"operations":  []map[string]string{{"rel": "edit", "href": id}, {"rel": "delete", "href": id}},
	}
	if len(v.props) > 0 {
		out["properties"] = v.props
	}
	return out
}

func networkJSON(n *network, u func(string) string) any {
	id := u(n.id)
	ops := []map[string]string{}
	if !n.system {
		ops = append(ops, map[string]string{"rel": "delete", "href": id})
	}
	switch n.state {
	case stStarted:
		ops = append(ops, map[string]string{"rel": cimiActionNS + "stop", "href": id + "/stop"})
	case stStopped:
		ops = append(ops, map[string]string{"rel": cimiActionNS + "start", "href": id + "/start"})
	}
	out := map[string]any{
		"resourceURI": cimiNS + "/Network",
		"id":          id,
		"name":        n.name,
		"created":     n.created.UTC().Format(time.RFC3339),
		"state":       n.state,
		"networkType": n.typ,
		"mtu":         n.mtu,
		"operations":  ops,
	}
	if len(n.props) > 0 {
		out["properties"] = n.props
	}
	return out
}

func (c *Cloud) jobJSON(j *job, u func(string) string) any {
	state, progress := "RUNNING", 50
	if !c.now().Before(j.readyAt) {
		state, progress = "SUCCESS", 100
	}
	var aff []map[string]string
	for _, a := range j.affected {
		aff = append(aff, map[string]string{"href": u(a)})
	}
	return map[string]any{
		"resourceURI":       cimiNS + "/Job",
		"id":                u(j.id),
		"created":           j.created.UTC().Format(time.RFC3339),
		"state":             state,
		"targetResource":    map[string]string{"href": u(j.target)},
		"affectedResources": aff,
		"action":            j.action,
		"returnCode":        0,
		"progress":          progress,
	}
}

func (c *Cloud) newJobLocked(action, target string, readyAt time.Time) *job {
	j := &job{id: c.newIDLocked("jobs/"), action: action, target: target, created: c.now(), readyAt: readyAt}
	c.jobs[j.id] = j
	// Keep the job list bounded: forget the oldest finished jobs.
	if len(c.jobs) > 256 {
		for _, k := range sortedKeys(c.jobs)[:len(c.jobs)-256] {
			delete(c.jobs, k)
		}
	}
	return j
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

type machineCreate struct {
	ResourceURI     string            `json:"resourceURI"`
	Name            string            `json:"name"`
	Description     string            `json:"description"`
	Properties      map[string]string `json:"properties"`
	MachineTemplate *struct {
		Href          string `json:"href"`
		MachineConfig *struct {
			Href    string `json:"href"`
			CPU     uint64 `json:"cpu"`
			Memory  uint64 `json:"memory"`
			CPUArch string `json:"cpuArch"`
			Disks   []struct {
				Capacity uint64 `json:"capacity"`
				Format   string `json:"format"`
			} `json:"disks"`
		} `json:"machineConfig"`
		MachineImage *hrefJSON `json:"machineImage"`
		Volumes      []struct {
			Volume          hrefJSON `json:"volume"`
			InitialLocation string   `json:"initialLocation"`
		} `json:"volumes"`
		NetworkInterfaces []struct {
			Network *hrefJSON `json:"network"`
		} `json:"networkInterfaces"`
		InitialState string `json:"initialState"`
	} `json:"machineTemplate"`
}

func (c *Cloud) createMachineLocked(r *http.Request, u func(string) string) (int, map[string]string, any) {
	var req machineCreate
	if err := decodeBody(r, &req); err != nil {
		return errResp(http.StatusBadRequest, "invalid MachineCreate: %v", err)
	}
	if req.ResourceURI != "" && req.ResourceURI != cimiNS+"/MachineCreate" {
		return errResp(http.StatusBadRequest, "resourceURI must be %s/MachineCreate", cimiNS)
	}
	t := req.MachineTemplate
	if t == nil {
		return errResp(http.StatusBadRequest, "machineTemplate is required")
	}
	if t.Href != "" {
		return errResp(http.StatusBadRequest, "machine template %q not found", t.Href)
	}
	if t.MachineConfig == nil {
		return errResp(http.StatusBadRequest, "machineTemplate.machineConfig is required")
	}
	base := u("")
	m := &machine{arch: c.cfg.Architecture, created: c.now(), attachments: map[string]*attachment{}}
	mc := t.MachineConfig
	if mc.Href != "" {
		name := strings.TrimPrefix(pathOf(mc.Href, base), "machineConfigs/")
		found := false
		for _, cfg := range sandboxConfigs {
			if cfg.name == name {
				m.cpu, m.memKiB, m.diskKiB, found = cfg.cpu, cfg.memKiB, cfg.diskKiB, true
			}
		}
		if !found {
			return errResp(http.StatusBadRequest, "machine configuration %q not found", mc.Href)
		}
	} else {
		m.cpu, m.memKiB = mc.CPU, mc.Memory
		for _, d := range mc.Disks {
			m.diskKiB += d.Capacity
		}
		if mc.CPUArch != "" && mc.CPUArch != c.cfg.Architecture {
			return errResp(http.StatusBadRequest, "cpuArch %q not offered (only %s)", mc.CPUArch, c.cfg.Architecture)
		}
	}
	if m.cpu == 0 || m.memKiB == 0 {
		return errResp(http.StatusBadRequest, "cpu and memory must be positive")
	}
	if t.MachineImage == nil || t.MachineImage.Href == "" {
		return errResp(http.StatusBadRequest, "machineTemplate.machineImage is required")
	}
	img := strings.TrimPrefix(pathOf(t.MachineImage.Href, base), "machineImages/")
	if !contains(sandboxImages, img) {
		return errResp(http.StatusBadRequest, "machine image %q not found", t.MachineImage.Href)
	}
	var nics []string
	for _, ni := range t.NetworkInterfaces {
		if ni.Network == nil {
			continue
		}
		p := pathOf(ni.Network.Href, base)
		if _, ok := c.networks[p]; !ok {
			return errResp(http.StatusBadRequest, "network %q not found", ni.Network.Href)
		}
		nics = append(nics, p)
	}
	for _, v := range t.Volumes {
		p := pathOf(v.Volume.Href, base)
		vol, ok := c.volumes[p]
		if !ok {
			return errResp(http.StatusBadRequest, "volume %q not found", v.Volume.Href)
		}
		if vol.attachedTo != "" {
			return errResp(http.StatusConflict, "volume %q is attached to %s", v.Volume.Href, vol.attachedTo)
		}
	}
	if err := c.reserveLocked(int64(m.cpu), int64(m.memKiB), int64(m.diskKiB)*1024); err != nil {
		return errResp(http.StatusInsufficientStorage, "%v", err)
	}
	m.id = c.newIDLocked("machines/")
	m.name = req.Name
	if m.name == "" {
		m.name = m.id
	}
	m.description, m.props, m.nics = req.Description, req.Properties, nics
	m.updated = m.created
	m.state = stCreating
	final := stStarted
	if t.InitialState == stStopped {
		final = stStopped
	}
	m.target, m.readyAt = final, c.now().Add(c.cfg.BuildTime)
	c.machines[m.id] = m
	for _, v := range t.Volumes {
		c.attachLocked(m, pathOf(v.Volume.Href, base), v.InitialLocation)
	}
	j := c.newJobLocked("add", m.id, m.readyAt)
	j.affected = []string{m.id}
	hdr := map[string]string{"Location": u(m.id), cimiJobHdr: u(j.id)}
	if c.cfg.BuildTime > 0 {
		return http.StatusAccepted, hdr, c.machineJSON(m, u)
	}
	c.settleLocked()
	return http.StatusCreated, hdr, c.machineJSON(m, u)
}

func (c *Cloud) attachLocked(m *machine, volPath, location string) *attachment {
	a := &attachment{id: c.newIDLocked(m.id + "/volumes/"), volume: volPath, location: location}
	m.attachments[a.id] = a
	c.volumes[volPath].attachedTo = m.id
	return a
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type volumeCreate struct {
	ResourceURI    string            `json:"resourceURI"`
	Name           string            `json:"name"`
	Properties     map[string]string `json:"properties"`
	VolumeTemplate *struct {
		VolumeConfig *struct {
			Href     string `json:"href"`
			Type     string `json:"type"`
			Format   string `json:"format"`
			Capacity uint64 `json:"capacity"`
		} `json:"volumeConfig"`
	} `json:"volumeTemplate"`
}

func (c *Cloud) createVolumeLocked(r *http.Request, u func(string) string) (int, map[string]string, any) {
	var req volumeCreate
	if err := decodeBody(r, &req); err != nil {
		return errResp(http.StatusBadRequest, "invalid VolumeCreate: %v", err)
	}
	if req.ResourceURI != "" && req.ResourceURI != cimiNS+"/VolumeCreate" {
		return errResp(http.StatusBadRequest, "resourceURI must be %s/VolumeCreate", cimiNS)
	}
	if req.VolumeTemplate == nil || req.VolumeTemplate.VolumeConfig == nil {
		return errResp(http.StatusBadRequest, "volumeTemplate.volumeConfig is required")
	}
	vc := req.VolumeTemplate.VolumeConfig
	v := &volume{name: req.Name, format: vc.Format, typ: vc.Type, capKiB: vc.Capacity, created: c.now(), props: req.Properties}
	if vc.Href != "" {
		name := strings.TrimPrefix(pathOf(vc.Href, u("")), "volumeConfigs/")
		found := false
		for _, cfg := range sandboxVolumeConfigs {
			if cfg.name == name {
				v.capKiB, v.format, v.typ, found = cfg.capKiB, "ext4", cimiNS+"/mapped", true
			}
		}
		if !found {
			return errResp(http.StatusBadRequest, "volume configuration %q not found", vc.Href)
		}
	}
	if v.capKiB == 0 {
		return errResp(http.StatusBadRequest, "capacity must be positive")
	}
	if v.typ == "" {
		v.typ = cimiNS + "/mapped"
	}
	if err := c.reserveLocked(0, 0, int64(v.capKiB)*1024); err != nil {
		return errResp(http.StatusInsufficientStorage, "%v", err)
	}
	v.id = c.newIDLocked("volumes/")
	if v.name == "" {
		v.name = v.id
	}
	c.volumes[v.id] = v
	return http.StatusCreated, map[string]string{"Location": u(v.id)}, volumeJSON(v, u)
}

type networkCreate struct {
	ResourceURI     string            `json:"resourceURI"`
	Name            string            `json:"name"`
	Properties      map[string]string `json:"properties"`
	NetworkTemplate *struct {
		NetworkConfig *struct {
			NetworkType string `json:"networkType"`
			MTU         int    `json:"mtu"`
		} `json:"networkConfig"`
	} `json:"networkTemplate"`
}

func (c *Cloud) createNetworkLocked(r *http.Request, u func(string) string) (int, map[string]string, any) {
	var req networkCreate
	if err := decodeBody(r, &req); err != nil {
		return errResp(http.StatusBadRequest, "invalid NetworkCreate: %v", err)
	}
	if req.ResourceURI != "" && req.ResourceURI != cimiNS+"/NetworkCreate" {
		return errResp(http.StatusBadRequest, "resourceURI must be %s/NetworkCreate", cimiNS)
	}
	if req.NetworkTemplate == nil || req.NetworkTemplate.NetworkConfig == nil {
		return errResp(http.StatusBadRequest, "networkTemplate.networkConfig is required")
	}
	nc := req.NetworkTemplate.NetworkConfig
	n := &network{name: req.Name, typ: nc.NetworkType, mtu: nc.MTU, state: stStarted, props: req.Properties, created: c.now()}
	switch n.typ {
	case "":
		n.typ = "PRIVATE"
	case "PRIVATE", "PUBLIC":
	default:
		return errResp(http.StatusBadRequest, "networkType %q must be PUBLIC or PRIVATE", n.typ)
	}
	if n.mtu == 0 {
		n.mtu = 1500
	}
	n.id = c.newIDLocked("networks/")
	if n.name == "" {
		n.name = n.id
	}
	c.networks[n.id] = n
	return http.StatusCreated, map[string]string{"Location": u(n.id)}, networkJSON(n, u)
}

func (c *Cloud) resourceLocked(r *http.Request, path string, u func(string) string) (int, map[string]string, any) {
	coll := strings.SplitN(path, "/", 2)[0]
	switch coll {
	case "machineConfigs", "machineImages", "volumeConfigs", "jobs":
		if r.Method != http.MethodGet {
			return methodNotAllowed()
		}
		name := strings.TrimPrefix(path, coll+"/")
		switch coll {
		case "machineConfigs":
			for _, mc := range sandboxConfigs {
				if mc.name == name {
					return http.StatusOK, nil, c.machineConfigJSON(mc, u)
				}
			}
		case "machineImages":
			if contains(sandboxImages, name) {
				return http.StatusOK, nil, imageJSON(name, u)
			}
		case "volumeConfigs":
			for _, vc := range sandboxVolumeConfigs {
				if vc.name == name {
					return http.StatusOK, nil, map[string]any{"resourceURI": cimiNS + "/VolumeConfiguration", "id": u(path), "name": vc.name, "type": cimiNS + "/mapped", "format": "ext4", "capacity": vc.capKiB}
				}
			}
		case "jobs":
			if j, ok := c.jobs[path]; ok {
				return http.StatusOK, nil, c.jobJSON(j, u)
			}
		}
		return errResp(http.StatusNotFound, "%s not found", path)
	case "machines":
		m, ok := c.machines[path]
		if !ok {
			return errResp(http.StatusNotFound, "%s not found", path)
		}
		switch r.Method {
		case http.MethodGet:
			return http.StatusOK, nil, c.machineJSON(m, u)
		case http.MethodPut:
			return c.editMachineLocked(r, m, u)
		case http.MethodDelete:
			for _, a := range m.attachments {
				if v, ok := c.volumes[a.volume]; ok {
					v.attachedTo = ""
				}
			}
			_ = c.reserveLocked(-int64(m.cpu), -int64(m.memKiB), -int64(m.diskKiB)*1024)
			delete(c.machines, path)
			return http.StatusOK, nil, nil
		}
	case "volumes":
		v, ok := c.volumes[path]
		if !ok {
			return errResp(http.StatusNotFound, "%s not found", path)
		}
		switch r.Method {
		case http.MethodGet:
			return http.StatusOK, nil, volumeJSON(v, u)
		case http.MethodPut:
			var req struct {
				Name     string `json:"name"`
				Capacity uint64 `json:"capacity"`
			}
			if err := decodeBody(r, &req); err != nil {
				return errResp(http.StatusBadRequest, "invalid Volume: %v", err)
			}
			if req.Capacity != 0 && req.Capacity != v.capKiB {
				if err := c.reserveLocked(0, 0, (int64(req.Capacity)-int64(v.capKiB))*1024); err != nil {
					return errResp(http.StatusInsufficientStorage, "%v", err)
				}
				v.capKiB = req.Capacity
			}
			if req.Name != "" {
				v.name = req.Name
			}
			return http.StatusOK, nil, volumeJSON(v, u)
		case http.MethodDelete:
			if v.attachedTo != "" {
				return errResp(http.StatusConflict, "%s is attached to %s", path, v.attachedTo)
			}
			_ = c.reserveLocked(0, 0, -int64(v.capKiB)*1024)
			delete(c.volumes, path)
			return http.StatusOK, nil, nil
		}
	case "networks":
		n, ok := c.networks[path]
		if !ok {
			return errResp(http.StatusNotFound, "%s not found", path)
		}
		switch r.Method {
		case http.MethodGet:
			return http.StatusOK, nil, networkJSON(n, u)
		case http.MethodDelete:
			if n.system {
				return errResp(http.StatusForbidden, "%s belongs to the cloud", path)
			}
			for _, m := range c.machines {
				if contains(m.nics, path) {
					return errResp(http.StatusConflict, "%s is used by %s", path, m.id)
				}
			}
			delete(c.networks, path)
			return http.StatusOK, nil, nil
		}
	default:
		return errResp(http.StatusNotFound, "no resource %q", path)
	}
	return methodNotAllowed()
}

func (c *Cloud) editMachineLocked(r *http.Request, m *machine, u func(string) string) (int, map[string]string, any) {
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		CPU         uint64 `json:"cpu"`
		Memory      uint64 `json:"memory"`
	}
	if err := decodeBody(r, &req); err != nil {
		return errResp(http.StatusBadRequest, "invalid Machine: %v", err)
	}
	dc, dm := int64(0), int64(0)
	if req.CPU != 0 {
		dc = int64(req.CPU) - int64(m.cpu)
	}
	if req.Memory != 0 {
		dm = int64(req.Memory) - int64(m.memKiB)
	}
	if err := c.reserveLocked(dc, dm, 0); err != nil {
		return errResp(http.StatusInsufficientStorage, "%v", err)
	}
	if req.CPU != 0 {
		m.cpu = req.CPU
	}
	if req.Memory != 0 {
		m.memKiB = req.Memory
	}
	if req.Name != "" {
		m.name = req.Name
	}
	if req.Description != "" {
		m.description = req.Description
	}
	m.updated = c.now()
	return http.StatusOK, nil, c.machineJSON(m, u)
}

// transitions: action -> (allowed from states, intermediate, final).
var machineActions = map[string]struct {
	from        []string
	via, target string
}{
	"start":   {[]string{stStopped, stSuspended}, stStarting, stStarted},
	"stop":    {[]string{stStarted, stSuspended}, stStopping, stStopped},
	"restart": {[]string{stStarted}, stStarting, stStarted},
	"suspend": {[]string{stStarted}, stSuspending, stSuspended},
}

func (c *Cloud) actionLocked(r *http.Request, path, op string, u func(string) string) (int, map[string]string, any) {
	var req struct {
		ResourceURI string `json:"resourceURI"`
		Action      string `json:"action"`
	}
	if err := decodeBody(r, &req); err != nil {
		return errResp(http.StatusBadRequest, "invalid Action: %v", err)
	}
	if req.ResourceURI != "" && req.ResourceURI != cimiNS+"/Action" {
		return errResp(http.StatusBadRequest, "resourceURI must be %s/Action", cimiNS)
	}
	if req.Action != cimiActionNS+op {
		return errResp(http.StatusBadRequest, "action %q does not match operation %q", req.Action, op)
	}
	if strings.HasPrefix(path, "networks/") {
		n, ok := c.networks[path]
		if !ok {
			return errResp(http.StatusNotFound, "%s not found", path)
		}
		switch {
		case op == "start" && n.state == stStopped:
			n.state = stStarted
		case op == "stop" && n.state == stStarted:
			n.state = stStopped
		default:
			return errResp(http.StatusConflict, "cannot %s %s in state %s", op, path, n.state)
		}
		j := c.newJobLocked(req.Action, path, c.now())
		return http.StatusAccepted, map[string]string{cimiJobHdr: u(j.id)}, nil
	}
	m, ok := c.machines[path]
	if !ok {
		return errResp(http.StatusNotFound, "%s not found", path)
	}
	a, ok := machineActions[op]
	if !ok {
		return errResp(http.StatusBadRequest, "unsupported action %q", op)
	}
	if !contains(a.from, m.state) {
		return errResp(http.StatusConflict, "cannot %s %s in state %s", op, path, m.state)
	}
	m.state, m.target, m.readyAt = a.via, a.target, c.now().Add(c.cfg.BuildTime)
	m.updated = c.now()
	c.settleLocked()
	j := c.newJobLocked(req.Action, path, m.readyAt)
	return http.StatusAccepted, map[string]string{cimiJobHdr: u(j.id)}, c.jobJSON(j, u)
}

func (c *Cloud) machineVolumesLocked(r *http.Request, mpath string, u func(string) string) (int, map[string]string, any) {
	m, ok := c.machines[mpath]
	if !ok {
		return errResp(http.StatusNotFound, "%s not found", mpath)
	}
	switch r.Method {
	case http.MethodGet:
		var items []any
		for _, k := range sortedKeys(m.attachments) {
			items = append(items, machineVolumeJSON(m.attachments[k], u))
		}
		body := map[string]any{"resourceURI": cimiNS + "/MachineVolumeCollection", "id": u(mpath + "/volumes"), "count": len(items),
			"operations": []map[string]string{{"rel": "add", "href": u(mpath + "/volumes")}}}
		if len(items) > 0 {
			body["machineVolumes"] = items
		}
		return http.StatusOK, nil, body
	case http.MethodPost:
		var req struct {
			ResourceURI     string   `json:"resourceURI"`
			InitialLocation string   `json:"initialLocation"`
			Volume          hrefJSON `json:"volume"`
		}
		if err := decodeBody(r, &req); err != nil {
			return errResp(http.StatusBadRequest, "invalid MachineVolume: %v", err)
		}
		if req.ResourceURI != "" && req.ResourceURI != cimiNS+"/MachineVolume" {
			return errResp(http.StatusBadRequest, "resourceURI must be %s/MachineVolume", cimiNS)
		}
		vp := pathOf(req.Volume.Href, u(""))
		v, ok := c.volumes[vp]
		if !ok {
			return errResp(http.StatusBadRequest, "volume %q not found", req.Volume.Href)
		}
		if v.attachedTo != "" {
			return errResp(http.StatusConflict, "volume %q is attached to %s", req.Volume.Href, v.attachedTo)
		}
		if m.state == stError {
			return errResp(http.StatusConflict, "%s is in state %s", mpath, m.state)
		}
		a := c.attachLocked(m, vp, req.InitialLocation)
		return http.StatusCreated, map[string]string{"Location": u(a.id)}, machineVolumeJSON(a, u)
	}
	return methodNotAllowed()
}

func machineVolumeJSON(a *attachment, u func(string) string) any {
	id := u(a.id)
	return map[string]any{
		"resourceURI":     cimiNS + "/MachineVolume",
		"id":              id,
		"initialLocation": a.location,
		"volume":          map[string]string{"href": u(a.volume)},
		"operations":      []map[string]string{{"rel": "delete", "href": id}},
	}
}

func (c *Cloud) machineVolumeLocked(r *http.Request, path string, u func(string) string) (int, map[string]string, any) {
	parts := strings.Split(path, "/")
	m, ok := c.machines[parts[0]+"/"+parts[1]]
	if !ok {
		return errResp(http.StatusNotFound, "%s not found", path)
	}
	a, ok := m.attachments[path]
	if !ok {
		return errResp(http.StatusNotFound, "%s not found", path)
	}
	switch r.Method {
	case http.MethodGet:
		return http.StatusOK, nil, machineVolumeJSON(a, u)
	case http.MethodDelete:
		if v, ok := c.volumes[a.volume]; ok {
			v.attachedTo = ""
		}
		delete(m.attachments, path)
		return http.StatusOK, nil, nil
	}
	return methodNotAllowed()
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
