package contract

import (
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// FieldReporter is implemented by adapters that declare which request
// fields they honour: the elements and leaves of a <CloudServiceRequest>
// their Provision (and Update) carry to the provider. Placement puts a
// request only on providers whose adapter honours every field it sets
// (see RequestFields), so that no element is parsed, validated and then
// silently dropped. An adapter that does not implement FieldReporter is
// taken to honour every field.
type FieldReporter interface {
	HonouredFields() FieldSet
}

// FieldSet is a set of request field paths, as RequestFields spells them:
// the service model, then each element name of the consumer schema
// (section 7), separated by "/", e.g. "IaaS/compute/cores",
// "IaaS/NetworkInterface/ip", "DSaaS/ContainerObject/exports". An element
// with children is a field of its own ("IaaS/NetworkInterface"): honouring
// it means the adapter creates it.
type FieldSet map[string]struct{}

// Fields returns the set of the given paths.
func Fields(paths ...string) FieldSet {
	s := make(FieldSet, len(paths))
	for _, p := range paths {
		s[p] = struct{}{}
	}
	return s
}

// Has reports whether path is in the set.
func (s FieldSet) Has(path string) bool {
	_, ok := s[path]
	return ok
}

// Union returns a new set holding the paths of s and of every other.
func (s FieldSet) Union(others ...FieldSet) FieldSet {
	out := make(FieldSet, len(s))
	for p := range s {
		out[p] = struct{}{}
	}
	for _, o := range others {
		for p := range o {
			out[p] = struct{}{}
		}
	}
	return out
}

// Sorted returns the paths in lexical order.
func (s FieldSet) Sorted() []string {
	out := make([]string, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// HonouredBy returns the adapter's declared set, or nil (every field)
// when it does not implement FieldReporter.
func HonouredBy(a Adapter) FieldSet {
	if r, ok := a.(FieldReporter); ok {
		return r.HonouredFields()
	}
	return nil
}

// PlacementHonoured are the fields the broker itself honours by its
// choice of service, whatever the adapter: placement only picks a service
// whose offer equals the requested architecture, vlan, VLANlabel and
// allocation, offers at least the requested speed, supports every
// requested DSaaS object kind, declares the requested CapabilityObject
// type and has the requested Link rel (see
// broker/placement). They are never reported as unhonoured.
var PlacementHonoured = Fields(
	"IaaS/compute/architecture", "IaaS/compute/speed",
	"IaaS/network/vlan", "IaaS/network/VLANlabel", "IaaS/network/allocation",
	"DSaaS/CapabilityObject/type",
	"PaaS/Link", "PaaS/Link/rel", "SaaS/Link", "SaaS/Link/rel", "DSaaS/Link", "DSaaS/Link/rel",
)

// xmlNames is the one table from csbmsg field names to the consumer
// schema's element names, where the name is not the Go name with its
// first letter lower-cased.
var xmlNames = map[string]string{
	"IaaS": "IaaS", "PaaS": "PaaS", "SaaS": "SaaS", "DSaaS": "DSaaS",
	"Link": "Link", "NetworkInterface": "NetworkInterface", "StorageLink": "storagelink",
	"VLAN": "vlan", "VLANLabel": "VLANlabel", "MAC": "mac", "IP": "ip", "DeviceID": "deviceid",
	"DataObject": "DataObject", "ContainerObject": "ContainerObject", "DomainObject": "DomainObject",
	"QueueObject": "QueueObject", "CapabilityObject": "CapabilityObject",
}

func xmlName(goName string) string {
	if n, ok := xmlNames[goName]; ok {
		return n
	}
	r := []rune(goName)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// createdStatus are the statuses IaaS resources are created in, by any
// adapter: a create request's <status> equal to one of them (as in the
// draft's own example) asks for nothing, so it is not listed as a field.
var createdStatus = map[string]string{
	"IaaS/compute/status":          string(csbmsg.ComputeActive),
	"IaaS/storage/status":          string(csbmsg.StorageOnline),
	"IaaS/network/status":          string(csbmsg.NetworkActive),
	"IaaS/NetworkInterface/status": string(csbmsg.NetworkActive),
	"IaaS/storagelink/status":      string(csbmsg.NetworkActive),
}

// RequestFields lists the fields a request sets, as FieldSet paths, in
// schema order: every element and leaf present under its IaaS, PaaS, SaaS
// or DSaaS element (not the model element itself, nor job-info and
// encryption, which the broker handles; nor an IaaS <status> that asks
// for the state resources are created in, see createdStatus). It walks
// the csbmsg types, so a field added there is listed without code here.
func RequestFields(req *csbmsg.ServiceRequest) []string {
	if req == nil {
		return nil
	}
	var out []string
	v := reflect.ValueOf(req).Elem()
	for _, name := range [...]string{"IaaS", "PaaS", "SaaS", "DSaaS"} {
		if f := v.FieldByName(name); !f.IsNil() {
			out = walkFields(f.Elem(), name, out)
		}
	}
	return out
}

func walkFields(v reflect.Value, prefix string, out []string) []string {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf, fv := t.Field(i), v.Field(i)
		if sf.Anonymous { // ObjectRefs: its fields read as the object's own
			out = walkFields(fv, prefix, out)
			continue
		}
		path := prefix + "/" + xmlName(sf.Name)
		if fv.Kind() == reflect.String { // Link's rel and href
			if fv.String() != "" {
				out = append(out, path)
			}
			continue
		}
		if fv.Kind() != reflect.Pointer || fv.IsNil() {
			continue
		}
		if st, ok := createdStatus[path]; ok && fv.Elem().String() == st {
			continue // asks for the state every resource is created in
		}
		out = append(out, path)
		if fv.Elem().Kind() == reflect.Struct {
			out = walkFields(fv.Elem(), path, out)
		}
	}
	return out
}

// Unhonoured returns the fields of fields that neither set nor the
// broker's placement honours. A nil set honours everything.
func Unhonoured(set FieldSet, fields []string) []string {
	if set == nil {
		return nil
	}
	var out []string
	for _, f := range fields {
		if !set.Has(f) && !PlacementHonoured.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// FieldList formats paths for a reason or a header: comma-separated.
func FieldList(paths []string) string { return strings.Join(paths, ", ") }

// TypeLeaves lists the leaves of a csbmsg model type (IaaS, PaaS, SaaS,
// DSaaS or one of their elements), as FieldSet paths under prefix, in
// schema order: what RequestFields would list for a value setting every
// leaf, without the elements that have children. The notification-field
// table (docs/conformance/notification-fields.md) is checked against it.
func TypeLeaves(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		ft := sf.Type
		if sf.Anonymous {
			out = append(out, TypeLeaves(ft, prefix)...)
			continue
		}
		path := prefix + "/" + xmlName(sf.Name)
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, TypeLeaves(ft, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}
