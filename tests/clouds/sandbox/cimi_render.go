package sandbox

// The JSON renderings of the sandbox's CIMI resources and collections.

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

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
	if !c.clk.Now().Before(j.readyAt) {
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
	j := &job{id: c.newIDLocked("jobs/"), action: action, target: target, created: c.clk.Now(), readyAt: readyAt}
	c.jobs[j.id] = j
	// Keep the job list bounded: forget the oldest finished jobs.
	if len(c.jobs) > 256 {
		for _, k := range sortedKeys(c.jobs)[:len(c.jobs)-256] {
			delete(c.jobs, k)
		}
	}
	return j
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
