package aws

import (
	"fmt"
	"slices"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Field is one row of the CSB↔native mapping table.
type Field struct {
	CSB    string // the draft's element, as a path below the request
	Native string // the native field, header or call
	Note   string // direction, defaults, refusals
}

// Mapping is the adapter's mapping between the draft's elements and EC2
// and S3. README.md renders it (MappingMarkdown); the state and action
// tables below it are the maps the code runs on (ec2States,
// computeActions).
var Mapping = []Field{
	{"IaaS/compute/cores", "instance type vCPUs", "request: at least this many; grant: the type's vCPUs"},
	{"IaaS/compute/memory (GB)", "instance type memory (MiB)", "request: memory ≥ GB × 1024; grant: MiB ÷ 1024, rounded down"},
	{"IaaS/compute/cores+memory+architecture", "`InstanceType`", "the smallest fitting type of `instance_types` (default table: t3, m5, t4g): fewest vCPUs, then least memory, then name"},
	{"IaaS/compute/architecture", "`ImageId`, type architecture", "`arch_images[architecture]`, else `image_id`; grant: the instance's `architecture`"},
	{"IaaS/compute/hostname", "tag `Name`", "request only"},
	{"IaaS/compute/speed", "—", "not mapped, not granted"},
	{"IaaS/compute/status", "`instanceState.name`", "grant only; see the state table"},
	{"IaaS/compute/action", "Start/Stop/RebootInstances", "update only; see the action table"},
	{"IaaS/storage/size (GB)", "`BlockDeviceMapping` on `root_device`: gp3 `VolumeSize`, deleted on termination", "request; granted as asked"},
	{"IaaS/storage/action resize, new cores/memory", "`ModifyInstanceAttribute` `InstanceType`", "only while stopped (EC2's rule); running: refused with 409"},
	{"IaaS/storage/action online, offline, backup, snapshot", "—", "unsupported"},
	{"IaaS/network, NetworkInterface", "`privateIpAddress`, `networkInterfaceSet[0].macAddress`, `subnetId`", "grant: address/ip, mac, subnet as VLANlabel, dynamic allocation"},
	{"IaaS/network/action, Link (OVF)", "—", "unsupported"},
	{"(job)", "`ClientToken` csb-<job>, tags csb-job and csb-owner", "RunInstances is idempotent per job; Find traces an instance, or a bucket the adapter named, to its job after a crash (a bucket the request names is never claimed)"},
	{"DSaaS/ContainerObject/objectID", "bucket", "default `<name_prefix><job id>` made a valid bucket name; must not exist yet (never adopted)"},
	{"DSaaS/ContainerObject/metadata", "—", "S3 buckets carry no user metadata: unsupported"},
	{"DSaaS/ContainerObject/objectURI, parentURI", "bucket URL, endpoint", "grant only"},
	{"DSaaS/DataObject/objectID", "object key", "default `" + objstore.DefaultObjectName + "`"},
	{"DSaaS/DataObject/parentURI", "bucket", "its last path segment names the bucket when there is no ContainerObject"},
	{"DSaaS/DataObject/value", "object body (PutObject)", "request and update; not echoed in the grant"},
	{"DSaaS/DataObject/mimetype", "`Content-Type`", "default `" + objstore.DefaultMimetype + "`"},
	{"DSaaS/DataObject/metadata", "`x-amz-meta-*`", "JSON object or `k=v; k=v`, keys lower case; any other text whole under `x-amz-meta-csb-metadata` (granted back as the same text); what headers cannot carry is refused before S3 is called (`unsupported`); an update of metadata alone copies the object onto itself with REPLACE"},
	{"DSaaS/DataObject/status", "`HeadObject`", "grant: `available`, or `missing`"},
	{"DSaaS/DomainObject", "`ListBuckets`", "grant only: objectURI = endpoint, objectID = owner id, children = bucket count"},
	{"DSaaS/CapabilityObject, QueueObject", "—", "unsupported"},
}

// MappingMarkdown renders Mapping and the state and action tables.
func MappingMarkdown() string {
	var b strings.Builder
	b.WriteString("| CSB element | AWS | Notes |\n|---|---|---|\n")
	for _, f := range Mapping {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", f.CSB, f.Native, f.Note)
	}
	b.WriteString("\nEC2 instance state → job resource state and `<compute><status>` (a state short of the one the last action aims for reads as pending; stopped after suspend reads as suspended):\n\n")
	b.WriteString("| EC2 state | state | compute status |\n|---|---|---|\n")
	states := make([]string, 0, len(ec2States))
	for s := range ec2States {
		states = append(states, string(s))
	}
	slices.Sort(states)
	for _, s := range states {
		st := ec2States[ec2types.InstanceStateName(s)]
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s, st.State, st.Compute)
	}
	b.WriteString("\nCompute actions: the EC2 call made from each state (— : already there; other states are refused with 409):\n\n")
	b.WriteString("| action | from state → EC2 call | target |\n|---|---|---|\n")
	acts := make([]string, 0, len(computeActions))
	for a := range computeActions {
		acts = append(acts, string(a))
	}
	slices.Sort(acts)
	for _, a := range acts {
		rule := computeActions[csbmsg.ComputeAction(a)]
		from := make([]string, 0, len(rule.From))
		for s := range rule.From {
			from = append(from, string(s))
		}
		slices.Sort(from)
		var cells []string
		for _, s := range from {
			c := string(rule.From[ec2types.InstanceStateName(s)])
			if c == "" {
				c = "—"
			}
			cells = append(cells, s+" → "+c)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", a, strings.Join(cells, ", "), rule.Target)
	}
	return b.String()
}
