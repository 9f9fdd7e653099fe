package sandbox

// The sandbox's CIMI resources once created: reads, edits, deletes,
// machine and network actions, and machine volumes.

import (
	"net/http"
	"strings"
)

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
			delete(c.moving, m)
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
	m.updated = c.clk.Now()
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
		j := c.newJobLocked(req.Action, path, c.clk.Now())
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
	c.moveLocked(m, a.via, a.target)
	m.updated = c.clk.Now()
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
