package openstack

import (
	"fmt"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"slices"
	"strings"
)

// Field is one row of the CSB↔native mapping table.
type Field struct {
	CSB    string // the draft's element, as a path below the request
	Native string // the native field, header or call
	Note   string // direction, defaults, refusals
}

// Mapping is the adapter's mapping between the draft's elements and
// OpenStack's native fields. README.md renders it (MappingMarkdown); the
// status and action tables below it are the maps the code runs on
// (novaStates, computeActions).
var Mapping = []Field{
	{"IaaS/compute/cores", "flavor `vcpus`", "request: flavor must have at least this many; grant: the flavor's vcpus"},
	{"IaaS/compute/memory (GB)", "flavor `ram` (MiB)", "request: ram ≥ memory × 1024; grant: ram ÷ 1024, rounded down"},
	{"IaaS/storage/size (GB)", "flavor `disk` (GB)", "request: disk ≥ size (a disk-0 flavor fits only when no size is asked); grant: the flavor's disk"},
	{"IaaS/compute/cores+memory+storage", "server `flavorRef`", "the smallest fitting enabled flavor: fewest vcpus, then least ram, then least disk, then lowest id"},
	{"IaaS/compute/hostname", "server `name`", "default `<name_prefix><job id>` made a valid host name; a requested hostname must be one"},
	{"IaaS/compute/architecture", "server `imageRef`", "`arch_images[architecture]`, else `image`; unknown architecture with `arch_images` set: unsupported"},
	{"IaaS/compute/speed", "—", "Nova has no CPU speed: not mapped, not granted"},
	{"IaaS/compute/status", "server `status`", "grant only; see the status table"},
	{"IaaS/compute/action", "`POST /servers/{id}/action`", "update only; see the action table"},
	{"IaaS/storage/action resize", "`resize` + `confirmResize`", "update with new cores/memory/size: resized to the smallest fitting flavor, confirmed by Status"},
	{"IaaS/storage/action snapshot", "`createImage`", "the image id is kept in the job (`snapshot_image_id`)"},
	{"IaaS/storage/action online, offline, backup", "—", "unsupported"},
	{"IaaS/network, NetworkInterface", "server `addresses`", "grant: first address (sorted by network name): address/ip, `OS-EXT-IPS-MAC:mac_addr`, network name as VLANlabel, fixed → dynamic, floating → static"},
	{"IaaS/network/action", "—", "needs Neutron: unsupported"},
	{"IaaS/Link (OVF)", "—", "expanded by the ovf adapter: unsupported here"},
	{"(job)", "server `metadata` csb-job, csb-owner; container `X-Container-Meta-Csb-Job`", "set on create, so Find traces a server or container to its job after a crash; the container tag is the broker's (not granted, not settable)"},
	{"DSaaS/ContainerObject/objectID", "container name", "default `<name_prefix><job id>`; must not exist yet (never adopted)"},
	{"DSaaS/ContainerObject/metadata", "`X-Container-Meta-*`", "JSON object or `k=v; k=v`; any other text whole under `X-Container-Meta-Csb-Metadata` (granted back as the same text); keys folded to lower case; what headers cannot carry (over 256 bytes, control characters) is refused before Swift is called (`unsupported`); update replaces the set"},
	{"DSaaS/ContainerObject/objectURI, parentURI, children", "container URL, account URL, `X-Container-Object-Count`", "grant only"},
	{"DSaaS/DataObject/objectID", "object name", "default `" + objstore.DefaultObjectName + "`"},
	{"DSaaS/DataObject/parentURI", "container", "its last path segment names the container when there is no ContainerObject"},
	{"DSaaS/DataObject/value", "object content", "request and update; not echoed in the grant"},
	{"DSaaS/DataObject/mimetype", "`Content-Type`", "default `" + objstore.DefaultMimetype + "`"},
	{"DSaaS/DataObject/metadata", "`X-Object-Meta-*`", "as for containers; an update without metadata keeps it"},
	{"DSaaS/DataObject/status", "object `HEAD`", "grant: `available`, or `missing` when the object was deleted"},
	{"DSaaS/DomainObject", "account (`GET ?limit=0`)", "grant only: objectURI = storage URL, objectID = account, children = container count, metadata = `X-Account-Meta-*` plus swift-bytes-used, swift-object-count, swift-container-count; metadata in a request: unsupported"},
	{"DSaaS/CapabilityObject", "`/info`", "grant: objectURI = the cluster's capability document"},
	{"DSaaS/QueueObject", "—", "Swift has no queues: unsupported"},
}

// MappingMarkdown renders Mapping and the status and action tables as
// Markdown, the way README.md shows them.
func MappingMarkdown() string {
	var b strings.Builder
	b.WriteString("| CSB element | OpenStack | Notes |\n|---|---|---|\n")
	for _, f := range Mapping {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", f.CSB, f.Native, f.Note)
	}
	b.WriteString("\nNova server status → job resource state and `<compute><status>` " +
		"(a task in progress, or a status short of the one the last action aims for, reads as pending):\n\n")
	b.WriteString("| Nova status | state | compute status |\n|---|---|---|\n")
	statuses := make([]string, 0, len(novaStates))
	for s := range novaStates {
		statuses = append(statuses, s)
	}
	slices.Sort(statuses)
	for _, s := range statuses {
		st := novaStates[s]
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s, st.State, st.Compute)
	}
	b.WriteString("\nCompute actions: the Nova action sent from each server status (— : already there; a status not listed is refused with 409):\n\n")
	b.WriteString("| action | from status → Nova action | target |\n|---|---|---|\n")
	acts := make([]string, 0, len(computeActions))
	for a := range computeActions {
		acts = append(acts, string(a))
	}
	slices.Sort(acts)
	for _, a := range acts {
		rule := computeActions[csbAction(a)]
		from := make([]string, 0, len(rule.From))
		for s := range rule.From {
			from = append(from, s)
		}
		slices.Sort(from)
		var cells []string
		for _, s := range from {
			act := string(rule.From[s])
			if act == "" {
				act = "—"
			}
			cells = append(cells, s+" → "+act)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", a, strings.Join(cells, ", "), rule.Target)
	}
	return b.String()
}

type csbAction = csbmsg.ComputeAction
