package csbcimi

// Volumes: a Volume is the storage of a broker job. A job that asks for
// storage only is a Volume of its own; a machine created with a
// volumeTemplate is one job holding both, and its volume is attached to it
// (a MachineVolume) by the provider's adapter at creation, where the
// adapter supports it (the CIMI adapter does; see docs/cimi.md). A volume
// of its own can be attached to a machine later (machinevolumes.go).

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// volumeCreate is DSP0263's VolumeCreate.
type volumeCreate struct {
	createCommon
	VolumeTemplate *volumeTemplate `json:"volumeTemplate" xml:"volumeTemplate"`
}

// volumeTemplate is a VolumeTemplate, inline; in a MachineTemplate's
// volumeTemplates it also carries the initialLocation of the attachment.
type volumeTemplate struct {
	Href            string          `json:"href" xml:"href,attr"`
	VolumeConfig    *volumeConfigIn `json:"volumeConfig" xml:"volumeConfig"`
	InitialLocation string          `json:"initialLocation" xml:"initialLocation"`
}

type volumeConfigIn struct {
	Href     string `json:"href" xml:"href,attr"`
	Capacity uint64 `json:"capacity" xml:"capacity"` // KiB
	Format   string `json:"format" xml:"format"`
	Type     string `json:"type" xml:"type"`
}

// machineVolumeRef is a MachineTemplate's volumes entry: an existing
// Volume to attach.
type machineVolumeRef struct {
	Volume          *ref   `json:"volume" xml:"volume"`
	InitialLocation string `json:"initialLocation" xml:"initialLocation"`
}

// isVolume reports whether a job holds a Volume.
func isVolume(j *jobs.Job) bool {
	return j.Kind == catalog.KindIaaS && j.Request.IaaS != nil && j.Request.IaaS.Storage != nil
}

// storage returns the broker's <storage> (and <storagelink> when
// attached to a machine) for a volume template.
func (c *call) storage(t *volumeTemplate) (*csbmsg.Storage, error) {
	if t.Href != "" {
		return nil, errorf(http.StatusBadRequest, "volumeTemplate %q: templates by reference are not served; give a volumeConfig", t.Href)
	}
	if t.VolumeConfig == nil {
		return nil, errorf(http.StatusBadRequest, "the volumeTemplate needs a volumeConfig (by reference or inline)")
	}
	capKiB := t.VolumeConfig.Capacity
	if h := t.VolumeConfig.Href; h != "" {
		id, ok := c.idIn(h, "volumeConfigs")
		found := false
		for _, vc := range c.volumeOffers() {
			if ok && vc.id == id {
				capKiB, found = vc.sizeGB*kibPerGB, true
			}
		}
		if !found {
			return nil, errorf(http.StatusBadRequest, "volumeConfig %q names no member of %svolumeConfigs", h, c.base)
		}
	}
	if capKiB == 0 {
		return nil, errorf(http.StatusBadRequest, "the volumeConfig needs a capacity")
	}
	gb := kibToGB(capKiB)
	return &csbmsg.Storage{Size: &gb}, nil
}

// volumeOffer is a VolumeConfiguration and the providers offering it.
type volumeOffer struct {
	id        string
	sizeGB    uint64
	providers []string
}

// volumeOffers returns every distinct storage offer of the catalogue's
// IaaS services (id s<GB>), largest first.
func (c *call) volumeOffers() []volumeOffer {
	by := map[uint64]*volumeOffer{}
	for _, e := range c.iaasEntries() {
		s := e.Service.IaaS
		if s == nil || s.Storage == nil || s.Storage.Size == nil || *s.Storage.Size == 0 {
			continue
		}
		o := by[*s.Storage.Size]
		if o == nil {
			o = &volumeOffer{id: fmt.Sprintf("s%d", *s.Storage.Size), sizeGB: *s.Storage.Size}
			by[*s.Storage.Size] = o
		}
		if !slices.Contains(o.providers, e.ProviderID) {
			o.providers = append(o.providers, e.ProviderID)
		}
	}
	var out []volumeOffer
	for _, o := range by {
		out = append(out, *o)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].sizeGB > out[b].sizeGB })
	return out
}

func (c *call) volumeConfigObj(o volumeOffer) obj {
	out := c.offerObj("VolumeConfiguration", "volumeConfigs", o.id, o.id, o.providers)
	out["description"] = fmt.Sprintf("a storage offer of the catalogue: up to %d GB", o.sizeGB)
	out["type"] = NS + "/mapped"
	out["capacity"] = o.sizeGB * kibPerGB
	return out
}

// volumeState is Volume.state for a job.
func volumeState(j *jobs.Job) string {
	switch {
	case j.Status.InFlight():
		return "CREATING"
	case j.Status == jobs.StatusFailed:
		return "ERROR"
	case j.Status.Final():
		return "DELETED"
	}
	if g := j.Granted().IaaS; g != nil && g.Storage != nil && g.Storage.Status != nil {
		switch *g.Storage.Status {
		case csbmsg.StorageDegraded:
			return "ERROR"
		case csbmsg.StorageOffline:
			return "DELETING"
		}
	}
	return "AVAILABLE"
}

// volumeObj renders the storage of a job as a Volume.
func (c *call) volumeObj(j *jobs.Job) obj {
	href := c.base + "volumes/" + j.ID
	o := c.jobObj("Volume", "volumes", j, volumeState(j))
	o["type"] = NS + "/mapped"
	o["bootable"] = false
	if g := j.Granted().IaaS; g != nil && g.Storage != nil && g.Storage.Size != nil {
		o["capacity"] = *g.Storage.Size * kibPerGB
	}
	p := props{PropStatus: string(j.Status)}
	if j.ProviderID != "" {
		p[PropProvider] = j.ProviderID
		p[PropService] = j.ServiceID
	}
	ops := []op{}
	attached := c.m.AttachedTo(c.ctx, j)
	switch {
	case isMachine(j):
		// Part of a machine: it goes when the machine goes.
		p["csb.machine"] = c.base + "machines/" + j.ID
	case attached != nil:
		p["csb.attached_to"] = c.base + "machines/" + attached.Machine + "/volumes/" + attached.ID
	}
	if !isMachine(j) {
		if d := j.Labels[labelDesc]; d != "" {
			o["description"] = d
		}
		for k, v := range j.Labels {
			if strings.HasPrefix(k, labelProp) {
				p[strings.TrimPrefix(k, labelProp)] = v
			}
		}
		if attached == nil && settled(j) {
			ops = append(ops, op{Rel: "delete", Href: href})
		}
	}
	o["properties"] = p
	o["operations"] = ops
	return o
}

// ownVolume reads owner's volume id (404 for unknown, foreign, ended).
func (c *call) ownVolume(id string) (*jobs.Job, error) {
	j, err := c.m.Get(c.ctx, c.owner, id)
	return owned(j, err, id, "volume", isVolume)
}

func (c *call) getVolume(id string) error {
	q, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	j, err := c.ownVolume(id)
	if err != nil {
		return err
	}
	o := c.volumeObj(j)
	return c.serve(o, q.project(o))
}

func (c *call) createVolume() error {
	var vc volumeCreate
	if err := readBody(c.w, c.r, c.h.MaxBodySize, "VolumeCreate", &vc); err != nil {
		return err
	}
	if vc.VolumeTemplate == nil {
		return errorf(http.StatusBadRequest, "a VolumeCreate needs a volumeTemplate")
	}
	st, err := c.storage(vc.VolumeTemplate)
	if err != nil {
		return err
	}
	opt, err := c.createOptions(vc.createCommon, c.h.app.ConsumerAccess(c.owner))
	if err != nil {
		return err
	}
	if _, err := c.precondition(c.collectionTag("volumes")); err != nil {
		return err
	}
	req := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: st}}
	return c.create(req, opt, "volumes", "volume", c.volumeObj)
}

func (c *call) deleteVolume(id string) error {
	j, err := c.ownVolume(id)
	if err != nil {
		return err
	}
	if isMachine(j) {
		return errorf(http.StatusConflict, "volume %s is part of machine %smachines/%s: it is deleted with the machine", id, c.base, id)
	}
	if a := c.m.AttachedTo(c.ctx, j); a != nil {
		return errorf(http.StatusConflict, "volume %s is attached to machine %s: detach it first (DELETE %smachines/%s/volumes/%s)", id, a.Machine, c.base, a.Machine, a.ID)
	}
	rev, err := c.precondition(c.volumeTag(id))
	if err != nil {
		return err
	}
	return c.jobErr(id, c.remove(id, rev))
}
