package sandbox

// The sandbox's CIMI creates: MachineCreate (with its capacity checks),
// VolumeCreate, NetworkCreate and the attachment of volumes.

import (
	"net/http"
	"strings"
)

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
	m := &machine{arch: c.cfg.Architecture, created: c.clk.Now(), attachments: map[string]*attachment{}}
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
	final := stStarted
	if t.InitialState == stStopped {
		final = stStopped
	}
	c.moveLocked(m, stCreating, final)
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
	v := &volume{name: req.Name, format: vc.Format, typ: vc.Type, capKiB: vc.Capacity, created: c.clk.Now(), props: req.Properties}
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
	n := &network{name: req.Name, typ: nc.NetworkType, mtu: nc.MTU, state: stStarted, props: req.Properties, created: c.clk.Now()}
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
