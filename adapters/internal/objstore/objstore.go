// Package objstore is the DSaaS mapping the adapters for object stores
// share (openstack's Swift, aws's S3): a job's data lives in one
// container (bucket) holding named objects, so a request maps the same
// way onto both. It says which container and object a request names, a
// DataObject's defaults, how metadata is read, how names go into URLs,
// what the stores cannot hold, and the service discovery describes.
package objstore

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters/internal/dsmeta"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Defaults of the mapping.
const (
	// DefaultObjectName names the DataObject when the request gives no
	// <objectID>.
	DefaultObjectName = "data"
	// DefaultMimetype is the Content-Type of a DataObject without
	// <mimetype> (CDMI's default for a value).
	DefaultMimetype = "text/plain"
)

// Statuses a grant gives a container or an object.
const (
	Available = "available"
	Missing   = "missing"
)

// ContainerName returns the container a request names: the
// ContainerObject's <objectID>, else the last path segment of the
// DataObject's <parentURI>, else "" (the adapter then names it after the
// job).
func ContainerName(d *csbmsg.DSaaS) string {
	switch {
	case d.ContainerObject != nil && d.ContainerObject.ObjectID != nil:
		return *d.ContainerObject.ObjectID
	case d.DataObject != nil:
		return parentName(d.DataObject)
	}
	return ""
}

// parentName is the container a DataObject's <parentURI> names: its last
// path segment ("" without one).
func parentName(o *csbmsg.DataObject) string {
	if o.ParentURI == nil || *o.ParentURI == "" {
		return ""
	}
	p := strings.TrimRight(*o.ParentURI, "/")
	if u, err := url.Parse(p); err == nil && u.Path != "" {
		p = u.Path
	}
	return p[strings.LastIndex(p, "/")+1:]
}

// OtherParent refuses, with kind KindUnsupported for op, a DataObject
// whose <parentURI> names a container other than container, the one the
// job's object goes in (the ContainerObject's, or the job's own on an
// update): the object would be written where the request did not ask,
// and answered as done. A parentURI equal to one of uris (the
// container's URL as the grant gives it, which need not end in its
// name: S3's virtual-hosted bucket URL) names container too.
func OtherParent(op string, d *csbmsg.DSaaS, container string, uris ...string) error {
	if d.DataObject == nil {
		return nil
	}
	if p := parentName(d.DataObject); p != "" && p != container && !slices.Contains(uris, strings.TrimRight(*d.DataObject.ParentURI, "/")) {
		return contract.Errorf(contract.KindUnsupported, op, "the DataObject's parentURI names container %q, but the job's object goes in %q", p, container)
	}
	return nil
}

// ObjectName returns the name of a DataObject: its <objectID>, else
// DefaultObjectName.
func ObjectName(o *csbmsg.DataObject) string {
	if o.ObjectID != nil && *o.ObjectID != "" {
		return *o.ObjectID
	}
	return DefaultObjectName
}

// Content returns what a DataObject stores: its <value> ("" without one)
// and its <mimetype> (DefaultMimetype without one).
func Content(o *csbmsg.DataObject) (value, mimetype string) {
	if o.Value != nil {
		value = *o.Value
	}
	mimetype = DefaultMimetype
	if o.Mimetype != nil && *o.Mimetype != "" {
		mimetype = *o.Mimetype
	}
	return value, mimetype
}

// Metadata reads a <metadata> element (see dsmeta: plain text is kept
// under dsmeta.PlainKey) as user metadata; a nil element is nil. One that
// headers cannot carry (a key or value too long or with characters a
// header name or value cannot hold, a JSON value that is not a string)
// is refused before any provider call, with kind KindUnsupported for op
// ("object metadata", "container metadata"): the provider never saw it,
// so it is not a provider_4xx.
func Metadata(op string, s *string) (map[string]string, error) {
	if s == nil {
		return nil, nil
	}
	m, err := dsmeta.Parse(*s)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: op, Err: err}
	}
	return m, nil
}

// Limits object stores put on the user metadata of one container or
// object, counted as FitMetadata counts: Swift's default
// max_meta_overall_size, and S3's 2 KB of user-defined metadata.
const (
	SwiftMetadataLimit = 4096
	S3MetadataLimit    = 2048
)

// FitMetadata refuses, with kind KindUnsupported for op, user metadata
// whose keys and values together take more than limit bytes, the way
// Swift and S3 count it: a store would refuse it with 400 after the
// container was created, where Metadata promises a refusal before the
// provider is called.
func FitMetadata(op string, m map[string]string, limit int) error {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	if n > limit {
		return contract.Errorf(contract.KindUnsupported, op, "metadata: keys and values take %d bytes, more than the store's %d", n, limit)
	}
	return nil
}

// EscapePath escapes a container or object name for a URL path; object
// names keep their "/" separators.
func EscapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Unsupported refuses what no object store of this kind holds: queue
// objects (store names the store for the error), a DSaaS <Link>, and the
// metadata of the account, which is the provider's.
func Unsupported(d *csbmsg.DSaaS, store string) error {
	uns := func(format string, args ...any) error {
		return contract.Errorf(contract.KindUnsupported, "dsaas", format, args...)
	}
	switch {
	case d.QueueObject != nil:
		return uns("%s has no queue objects", store)
	case d.Link != nil:
		return uns("a DSaaS <Link> is for the link adapter")
	case d.DomainObject != nil && d.DomainObject.Metadata != nil && *d.DomainObject.Metadata != "":
		return uns("the %s account (DomainObject) is the provider's; its metadata is read-only through the broker", store)
	}
	return nil
}

// Service is the DSaaS service discovery describes for an object store
// whose account (or endpoint) URL is base: containers in it, data
// objects, and the account as the domain.
func Service(id, base string) csbmsg.Service {
	enabled := true
	return csbmsg.Service{
		ID:     id,
		Status: csbmsg.ServiceActive,
		URI:    base,
		DSaaS: &csbmsg.DSaaS{
			ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ParentURI: &base}},
			DataObject:      &csbmsg.DataObject{},
			DomainObject:    &csbmsg.DomainObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &base}, Enabled: &enabled},
		},
	}
}

// Honoured are the DSaaS request fields an object-store adapter (Swift,
// S3) carries to the provider: the container named by its objectID (else
// the DataObject's parentURI) with its metadata, the data object's name,
// value, mimetype and metadata; the account as the DomainObject and the
// capability object are read, not created. The *URI children other than
// the DataObject's parentURI, the status children and a container's
// exports, snapshots and children are not honoured.
var Honoured = contract.Fields(
	"DSaaS/ContainerObject", "DSaaS/ContainerObject/objectID", "DSaaS/ContainerObject/metadata",
	"DSaaS/DataObject", "DSaaS/DataObject/objectID", "DSaaS/DataObject/parentURI",
	"DSaaS/DataObject/mimetype", "DSaaS/DataObject/metadata", "DSaaS/DataObject/value",
	"DSaaS/DomainObject", "DSaaS/CapabilityObject", "DSaaS/CapabilityObject/type",
)

// Stated is a job's resource after its container was looked up: gone,
// with an empty grant, when the container no longer exists; else ready,
// or failed for a job the broker recorded as incomplete. The caller fills
// in the grant of a container that exists.
func Stated(res *contract.Resource, exists bool) *contract.Resource {
	out := res.Clone()
	switch {
	case !exists:
		out.State = contract.StateGone
		out.Granted = csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}
	case res.Native[contract.NativeIncomplete] != "":
		out.State = contract.StateFailed
	default:
		out.State = contract.StateReady
	}
	return out
}

// Head is what a store answers about an object that exists.
type Head struct {
	Mimetype *string           // its Content-Type; nil without one
	Meta     map[string]string // its user metadata, by lower-case key
}

// DataObject is the grant of the job's object name, at uri in the
// container at parent: available, with its content type and metadata,
// when the store has it (head), else missing.
func DataObject(uri, name, parent string, head *Head) *csbmsg.DataObject {
	do := &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &uri, ObjectID: &name, ParentURI: &parent}}
	status := Missing
	if head != nil {
		status = Available
		do.Mimetype = head.Mimetype
		if m := dsmeta.Format(head.Meta); m != "" {
			do.Metadata = &m
		}
	}
	do.Status = &status
	return do
}

// Container is a store's container as Remove sees it. Its methods treat
// what is already gone as done, and return the adapter's own errors.
type Container interface {
	// DeleteObject deletes an object.
	DeleteObject(ctx context.Context, name string) error
	// EachObject calls fn with the name of every object in the
	// container, and stops at fn's first error; gone reports a container
	// that no longer exists.
	EachObject(ctx context.Context, fn func(name string) error) (gone bool, err error)
	// Delete deletes the container; notEmpty reports that the store
	// refused because it holds objects (again).
	Delete(ctx context.Context) (notEmpty bool, err error)
}

// Remove removes what a job holds in its container, name (nothing when
// name is ""), which open makes a Container. A container the job created
// is emptied of every object (the owner may have added some through the
// transparent proxy) and deleted; as objects may still be arriving
// through the proxy, that is tried three times before the store's
// refusal is returned. In a container the job did not create, only the
// job's object (if any) is deleted.
func Remove(ctx context.Context, name string, created bool, object string, open func(name string) (Container, error)) error {
	if name == "" {
		return nil
	}
	c, err := open(name)
	if err != nil {
		return err
	}
	if !created {
		if object == "" {
			return nil
		}
		return c.DeleteObject(ctx, object)
	}
	for range 3 {
		gone, lerr := c.EachObject(ctx, func(name string) error { return c.DeleteObject(ctx, name) })
		if lerr != nil || gone {
			return lerr
		}
		var notEmpty bool
		if notEmpty, err = c.Delete(ctx); !notEmpty {
			return err
		}
	}
	return err
}
