package openstack

import (
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
)

// Field is one row of the CSB↔native mapping table.
type Field = model.Field

// Mapping is the adapter's mapping between the draft's elements and
// OpenStack's native fields. README.md renders it (MappingMarkdown); the
// status and action tables below it are the maps the code runs on
// (novaStates, computeActions).
var Mapping = []Field{
	{CSB: "IaaS/compute/cores", Native: "flavor `vcpus`", Note: "request: flavor must have at least this many; grant: the flavor's vcpus"},
	{CSB: "IaaS/compute/memory (GB)", Native: "flavor `ram` (MiB)", Note: "request: ram ≥ memory × 1024; grant: ram ÷ 1024, rounded down"},
	{CSB: "IaaS/storage/size (GB)", Native: "flavor `disk` (GB)", Note: "request: disk ≥ size (a disk-0 flavor fits only when no size is asked); grant: the flavor's disk"},
	{CSB: "IaaS/compute/cores+memory+storage", Native: "server `flavorRef`", Note: "the smallest fitting enabled flavor: fewest vcpus, then least ram, then least disk, then lowest id"},
	{CSB: "IaaS/compute/hostname", Native: "server `name`", Note: "default `<name_prefix><job id>` made a valid host name; a requested hostname must be one; an update naming another: unsupported"},
	{CSB: "IaaS/compute/architecture", Native: "server `imageRef`", Note: "`arch_images[architecture]`, else `image`; unknown architecture with `arch_images` set: unsupported; an update naming one of another image: unsupported"},
	{CSB: "IaaS/compute/speed", Native: "—", Note: "Nova has no CPU speed: not mapped, not granted"},
	{CSB: "IaaS/compute/status", Native: "server `status`", Note: "grant only; see the status table"},
	{CSB: "IaaS/compute/action", Native: "`POST /servers/{id}/action`", Note: "update only; see the action table"},
	{CSB: "IaaS/storage/action resize", Native: "`resize` + `confirmResize`", Note: "update with new cores/memory/size: resized to the smallest fitting flavor, the sizes it does not name staying at least the server's, confirmed by Status"},
	{CSB: "IaaS/storage/action snapshot", Native: "`createImage`", Note: "the image id is kept in the job (`snapshot_image_id`)"},
	{CSB: "IaaS/storage/action online, offline, backup", Native: "—", Note: "unsupported"},
	{CSB: "IaaS/network, NetworkInterface", Native: "server `addresses`", Note: "grant: first address (sorted by network name): address/ip, `OS-EXT-IPS-MAC:mac_addr`, network name as VLANlabel, fixed → dynamic, floating → static"},
	{CSB: "IaaS/network/action", Native: "—", Note: "needs Neutron: unsupported"},
	{CSB: "IaaS/Link (OVF)", Native: "—", Note: "expanded by the ovf adapter: unsupported here"},
	{CSB: "(job)", Native: "server `metadata` csb-job, csb-owner, csb-provider; container `X-Container-Meta-Csb-Job`", Note: "set on create, so Find traces a server or container to its job after a crash; Nova has no idempotency token, so Provision takes the job's live server (by name, csb-job and csb-provider: another provider fronting the same project may hold the job's server before a move removes it) rather than make a second, and a create left unanswered is removed by the same look-up; the container tag goes on with the container PUT, so a retried PUT whose first answer was lost takes the container, and a create left unanswered is removed only when the container carries the job's tag; the container tag is the broker's (not granted, not settable)"},
	{CSB: "DSaaS/ContainerObject/objectID", Native: "container name", Note: "default `<name_prefix><job id>`; must not exist yet (never adopted, except the one the adapter's own PUT made when its answer was lost)"},
	{CSB: "DSaaS/ContainerObject/metadata", Native: "`X-Container-Meta-*`", Note: "JSON object or `k=v; k=v`; any other text whole under `X-Container-Meta-Csb-Metadata` (granted back as the same text); keys folded to lower case; what headers cannot carry (a value over 256 bytes, over 4096 bytes of keys and values in all, control characters) is refused before Swift is called (`unsupported`); update replaces the set"},
	{CSB: "DSaaS/ContainerObject/objectURI, parentURI, children", Native: "container URL, account URL, `X-Container-Object-Count`", Note: "grant only"},
	{CSB: "DSaaS/DataObject/objectID", Native: "object name", Note: "default `" + objstore.DefaultObjectName + "`"},
	{CSB: "DSaaS/DataObject/parentURI", Native: "container", Note: "its last path segment names the container when there is no ContainerObject; one naming another container than the ContainerObject's, or on an update than the job's: unsupported"},
	{CSB: "DSaaS/DataObject/value", Native: "object content", Note: "request and update; not echoed in the grant"},
	{CSB: "DSaaS/DataObject/mimetype", Native: "`Content-Type`", Note: "default `" + objstore.DefaultMimetype + "`"},
	{CSB: "DSaaS/DataObject/metadata", Native: "`X-Object-Meta-*`", Note: "as for containers; an update without metadata keeps it"},
	{CSB: "DSaaS/DataObject/status", Native: "object `HEAD`", Note: "grant: `available`, or `missing` when the object was deleted"},
	{CSB: "DSaaS/DomainObject", Native: "account (`GET ?limit=0`)", Note: "grant only: objectURI = storage URL, objectID = account, children = container count, metadata = `X-Account-Meta-*` plus swift-bytes-used, swift-object-count, swift-container-count; metadata in a request: unsupported"},
	{CSB: "DSaaS/CapabilityObject", Native: "`/info`", Note: "grant: objectURI = the cluster's capability document"},
	{CSB: "DSaaS/QueueObject", Native: "—", Note: "Swift has no queues: unsupported"},
}

// MappingMarkdown renders Mapping and the status and action tables as
// Markdown, the way README.md shows them.
func MappingMarkdown() string {
	return model.Tables[string, novaAction]{
		Native: "OpenStack",
		Fields: Mapping,
		StateIntro: "Nova server status → job resource state and `<compute><status>` " +
			"(a task in progress, or a status short of the one the last action aims for, reads as pending):",
		StateHeader:  "Nova status",
		States:       novaStates,
		ActionIntro:  "Compute actions: the Nova action sent from each server status (— : already there; a status not listed is refused with 409):",
		ActionHeader: "from status → Nova action",
		Actions:      computeActions,
	}.Markdown()
}
