package aws

import (
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
)

// Field is one row of the CSB↔native mapping table.
type Field = model.Field

// Mapping is the adapter's mapping between the draft's elements and EC2
// and S3. README.md renders it (MappingMarkdown); the state and action
// tables below it are the maps the code runs on (ec2States,
// computeActions).
var Mapping = []Field{
	{CSB: "IaaS/compute/cores", Native: "instance type vCPUs", Note: "request: at least this many; grant: the type's vCPUs"},
	{CSB: "IaaS/compute/memory (GB)", Native: "instance type memory (MiB)", Note: "request: memory ≥ GB × 1024; grant: MiB ÷ 1024, rounded down"},
	{CSB: "IaaS/compute/cores+memory+architecture", Native: "`InstanceType`", Note: "the smallest fitting type of `instance_types` (default table: t3, m5, t4g): fewest vCPUs, then least memory, then name"},
	{CSB: "IaaS/compute/architecture", Native: "`ImageId`, type architecture", Note: "`arch_images[architecture]`, else `image_id`; grant: the instance's `architecture`; an update naming another: unsupported"},
	{CSB: "IaaS/compute/hostname", Native: "tag `Name`", Note: "request only; an update naming another: unsupported"},
	{CSB: "IaaS/compute/speed", Native: "—", Note: "not mapped, not granted"},
	{CSB: "IaaS/compute/status", Native: "`instanceState.name`", Note: "grant only; see the state table"},
	{CSB: "IaaS/compute/action", Native: "Start/Stop/RebootInstances", Note: "update only; see the action table"},
	{CSB: "IaaS/storage/size (GB)", Native: "`BlockDeviceMapping` on `root_device`: gp3 `VolumeSize`, deleted on termination", Note: "request, at most 16384 (else capacity); granted as asked; an update naming another size: unsupported"},
	{CSB: "IaaS/storage/action resize, new cores/memory", Native: "`ModifyInstanceAttribute` `InstanceType`", Note: "only while stopped (EC2's rule); running: refused with 409; cores or memory the update does not name stay at least the instance's, and the architecture stays its own"},
	{CSB: "IaaS/storage/action online, offline, backup, snapshot", Native: "—", Note: "unsupported"},
	{CSB: "IaaS/network, NetworkInterface", Native: "`privateIpAddress`, `networkInterfaceSet[0].macAddress`, `subnetId`", Note: "grant: address/ip, mac, subnet as VLANlabel, dynamic allocation"},
	{CSB: "IaaS/network/action, Link (OVF)", Native: "—", Note: "unsupported"},
	{CSB: "(job)", Native: "`ClientToken` csb-<job>[-<provider hash>] (csb-<job>-<id>[-<provider hash>] after the token's instance <id> terminated), tags csb-job, csb-owner and csb-provider", Note: "RunInstances is idempotent per job and provider (another provider fronting the same account and region gets its own instance, which a move needs); Find traces an instance, or a bucket the adapter named, to its job after a crash (a bucket the request names is never claimed)"},
	{CSB: "DSaaS/ContainerObject/objectID", Native: "bucket", Note: "default `<name_prefix><job id>` made a valid bucket name; must not exist yet (never adopted)"},
	{CSB: "DSaaS/ContainerObject/metadata", Native: "—", Note: "S3 buckets carry no user metadata: unsupported"},
	{CSB: "DSaaS/ContainerObject/objectURI, parentURI", Native: "bucket URL, endpoint", Note: "grant only"},
	{CSB: "DSaaS/DataObject/objectID", Native: "object key", Note: "default `" + objstore.DefaultObjectName + "`"},
	{CSB: "DSaaS/DataObject/parentURI", Native: "bucket", Note: "its last path segment names the bucket when there is no ContainerObject; one naming another bucket than the ContainerObject's, or on an update than the job's: unsupported"},
	{CSB: "DSaaS/DataObject/value", Native: "object body (PutObject)", Note: "request and update; not echoed in the grant"},
	{CSB: "DSaaS/DataObject/mimetype", Native: "`Content-Type`", Note: "default `" + objstore.DefaultMimetype + "`"},
	{CSB: "DSaaS/DataObject/metadata", Native: "`x-amz-meta-*`", Note: "JSON object or `k=v; k=v`, keys lower case, values with non-ASCII characters sent as RFC 2047 encoded words and decoded when read; any other text whole under `x-amz-meta-csb-metadata` (granted back as the same text); what headers cannot carry (a value over 256 bytes once encoded, over 2 KB of keys and values in all, control characters) is refused before S3 is called (`unsupported`); an update of metadata alone copies the object onto itself with REPLACE"},
	{CSB: "DSaaS/DataObject/status", Native: "`HeadObject`", Note: "grant: `available`, or `missing`"},
	{CSB: "DSaaS/DomainObject", Native: "`ListBuckets`", Note: "grant only: objectURI = endpoint, objectID = owner id, children = bucket count"},
	{CSB: "DSaaS/CapabilityObject, QueueObject", Native: "—", Note: "unsupported"},
}

// MappingMarkdown renders Mapping and the state and action tables.
func MappingMarkdown() string {
	return model.Tables[ec2types.InstanceStateName, ec2Action]{
		Native:       "AWS",
		Fields:       Mapping,
		StateIntro:   "EC2 instance state → job resource state and `<compute><status>` (a state short of the one the last action aims for reads as pending; stopped after suspend reads as suspended):",
		StateHeader:  "EC2 state",
		States:       ec2States,
		ActionIntro:  "Compute actions: the EC2 call made from each state (— : already there; other states are refused with 409):",
		ActionHeader: "from state → EC2 call",
		Actions:      computeActions,
	}.Markdown()
}
