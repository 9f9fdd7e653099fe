package csbcimi

// machineConfigs, machineImages and machineTemplates: what the catalogue
// offers, in CIMI's terms, plus the operator's declarations. Each carries
// the providers that offer it in its csb.providers property.

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// PropProviders lists, comma-separated, the providers that offer a
// machineConfig, machineImage or machineTemplate.
const PropProviders = "csb.providers"

// defaultImage is the image every provider offers: the one its adapter is
// configured to boot.
const defaultImage = "default"

// catalogueCollections maps the collections below to their member type.
var catalogueCollections = map[string]string{
	"machineConfigs":   "MachineConfiguration",
	"machineImages":    "MachineImage",
	"machineTemplates": "MachineTemplate",
	"volumeConfigs":    "VolumeConfiguration",
}

// offer is one machine configuration and the providers offering it.
type offer struct {
	id, name, desc string
	cpu, memGB     uint64
	arch           string
	providers      []string
}

// offers returns the machine configurations: every distinct compute offer
// of the catalogue (id c<cpu>-m<memory GB>[-<arch>]), then the operator's.
func (c *call) offers() []offer {
	entries := c.iaasEntries()
	byID := map[string]*offer{}
	var out []*offer
	for _, e := range entries {
		iaas := e.Service.IaaS
		if iaas == nil || iaas.Compute == nil || iaas.Compute.Cores == nil || iaas.Compute.Memory == nil {
			continue
		}
		o := offer{cpu: *iaas.Compute.Cores, memGB: *iaas.Compute.Memory}
		if iaas.Compute.Architecture != nil {
			o.arch = *iaas.Compute.Architecture
		}
		o.id = fmt.Sprintf("c%d-m%d", o.cpu, o.memGB)
		if o.arch != "" {
			o.id += "-" + o.arch
		}
		have := byID[o.id]
		if have == nil {
			o.name = o.id
			o.desc = fmt.Sprintf("a compute offer of the catalogue: up to %d cores and %d GB", o.cpu, o.memGB)
			have = &o
			byID[o.id] = have
			out = append(out, have)
		}
		if !slices.Contains(have.providers, e.ProviderID) {
			have.providers = append(have.providers, e.ProviderID)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].id < out[b].id })
	for _, d := range c.h.MachineConfigs {
		o := &offer{id: d.Name, name: d.Name, desc: d.Description, cpu: d.CPU, memGB: d.MemoryGB, arch: d.CPUArch}
		for _, e := range entries {
			cp := e.Service.IaaS
			if cp == nil || cp.Compute == nil || cp.Compute.Cores == nil || cp.Compute.Memory == nil ||
				*cp.Compute.Cores < o.cpu || *cp.Compute.Memory < o.memGB ||
				o.arch != "" && (cp.Compute.Architecture == nil || *cp.Compute.Architecture != o.arch) {
				continue
			}
			if !slices.Contains(o.providers, e.ProviderID) {
				o.providers = append(o.providers, e.ProviderID)
			}
		}
		out = append(out, o)
	}
	res := make([]offer, len(out))
	for i, o := range out {
		res[i] = *o
	}
	return res
}

// iaasProviders are the providers with an IaaS offer in the catalogue.
func (c *call) iaasProviders() []string {
	var out []string
	for _, e := range c.iaasEntries() {
		if !slices.Contains(out, e.ProviderID) {
			out = append(out, e.ProviderID)
		}
	}
	return out
}

// iaasEntries are the catalogue's placeable IaaS services.
func (c *call) iaasEntries() []catalog.ServiceEntry {
	if cat := c.h.app.Catalogue(); cat != nil {
		return cat.Placeable(catalog.KindIaaS)
	}
	return nil
}

func (c *call) images() []MachineImage {
	out := []MachineImage{{Name: defaultImage, Description: "the image each provider's adapter is configured to boot"}}
	return append(out, c.h.MachineImages...)
}

// offerObj is what every member of a catalogue collection has: its
// resource type, its id in collection, its name and the providers it is
// offered by (the property csb:providers).
func (c *call) offerObj(typ, collection, id, name string, providers []string) obj {
	return obj{
		"resourceURI": NS + "/" + typ,
		"id":          c.base + collection + "/" + id,
		"name":        name,
		"properties":  props{PropProviders: strings.Join(providers, ",")},
	}
}

func (c *call) configObj(o offer) obj {
	out := c.offerObj("MachineConfiguration", "machineConfigs", o.id, o.name, o.providers)
	out["cpu"] = o.cpu
	out["memory"] = o.memGB * kibPerGB
	if o.desc != "" {
		out["description"] = o.desc
	}
	if o.arch != "" {
		out["cpuArch"] = o.arch
	}
	return out
}

func (c *call) imageObj(im MachineImage) obj {
	provs := im.Providers
	if len(provs) == 0 {
		provs = c.iaasProviders()
	}
	out := c.offerObj("MachineImage", "machineImages", im.Name, im.Name, provs)
	out["state"] = "AVAILABLE"
	out["type"] = "IMAGE"
	if im.Description != "" {
		out["description"] = im.Description
	}
	return out
}

func (c *call) templateObj(o offer) obj {
	out := c.offerObj("MachineTemplate", "machineTemplates", o.id, o.name, o.providers)
	out["machineConfig"] = ref{Href: c.base + "machineConfigs/" + o.id}
	out["machineImage"] = ref{Href: c.base + "machineImages/" + defaultImage}
	return out
}

// catalogue returns the members of one catalogue collection.
func (c *call) catalogue(name string) []obj {
	switch name {
	case "machineConfigs":
		return objs(c.offers(), c.configObj)
	case "machineTemplates":
		return objs(c.offers(), c.templateObj)
	case "machineImages":
		return objs(c.images(), c.imageObj)
	case "volumeConfigs":
		return objs(c.volumeOffers(), c.volumeConfigObj)
	}
	return nil
}

// objs renders each of list.
func objs[T any](list []T, render func(T) obj) []obj {
	out := make([]obj, 0, len(list))
	for _, v := range list {
		out = append(out, render(v))
	}
	return out
}

func (c *call) getCatalogue(name, id string) error {
	q, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	want := c.base + name + "/" + id
	for _, o := range c.catalogue(name) {
		if o["id"] == want {
			return c.serve(o, q.project(o))
		}
	}
	return errorf(http.StatusNotFound, "no %s %q", catalogueCollections[name], id)
}

// idIn returns the member id an href names in collection name: the href
// is absolute (below this entry point) or relative to it.
func (c *call) idIn(href, name string) (string, bool) {
	rest := strings.TrimPrefix(href, c.base)
	if strings.Contains(rest, "://") {
		// Another host name for this broker: keep the path below the prefix.
		if i := strings.Index(rest, c.h.Prefix); i >= 0 {
			rest = rest[i+len(c.h.Prefix):]
		} else {
			return "", false
		}
	}
	rest = strings.TrimPrefix(rest, "/")
	rest = strings.TrimPrefix(rest, strings.TrimPrefix(c.h.Prefix, "/"))
	id, ok := strings.CutPrefix(rest, name+"/")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

func (c *call) configByHref(href string) (machineConfigIn, error) {
	if id, ok := c.idIn(href, "machineConfigs"); ok {
		for _, o := range c.offers() {
			if o.id == id {
				return machineConfigIn{CPU: o.cpu, Memory: o.memGB * kibPerGB, CPUArch: o.arch}, nil
			}
		}
	}
	return machineConfigIn{}, errorf(http.StatusBadRequest, "machineConfig %q names no member of %smachineConfigs", href, c.base)
}

func (c *call) imageByHref(href string) (MachineImage, error) {
	if id, ok := c.idIn(href, "machineImages"); ok {
		for _, im := range c.images() {
			if im.Name == id {
				return im, nil
			}
		}
	}
	return MachineImage{}, errorf(http.StatusBadRequest, "machineImage %q names no member of %smachineImages", href, c.base)
}

func (c *call) template(href string) (*machineTemplate, error) {
	if id, ok := c.idIn(href, "machineTemplates"); ok {
		for _, o := range c.offers() {
			if o.id == id {
				return &machineTemplate{
					MachineConfig: &machineConfigIn{CPU: o.cpu, Memory: o.memGB * kibPerGB, CPUArch: o.arch},
					MachineImage:  &ref{Href: c.base + "machineImages/" + defaultImage},
				}, nil
			}
		}
	}
	return nil, errorf(http.StatusBadRequest, "machineTemplate %q names no member of %smachineTemplates", href, c.base)
}
