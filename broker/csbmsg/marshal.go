package csbmsg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MarshalPublish serialises p as a csb-publish document: an XML
// declaration (UTF-8), then <csbpublish version="1.0"> in the csb-publish
// namespace, indented by two spaces, children in schema order. It checks p
// first and refuses, without writing anything, a value the schema of
// section 6 (as repaired, see CONFORMANCE.md) would not accept: not
// exactly one of Request, Response and Notification, a missing or
// malformed required value, a value outside its enumeration, a string
// with a character XML cannot carry. Token and URI values are written
// whitespace-collapsed, as the schema types read them.
//
// A notification with several Services is written with several
// <Cloud-Service> elements, which the repaired schema allows and strict
// peers refuse.
func MarshalPublish(p *Publish) ([]byte, error) {
	w := newWriter(publishVocab)
	if p == nil {
		return nil, errors.New("csbmsg: cannot serialise a nil *Publish")
	}
	w.root(p.Version)
	switch n := countSet(p.Request != nil, p.Response != nil, p.Notification != nil); {
	case n != 1:
		w.fail("exactly one of Request, Response and Notification must be set, not %d", n)
	case p.Request != nil:
		w.open("csbrequest")
		w.subscription(&p.Request.Subscription)
		w.end()
	case p.Response != nil:
		w.open("csbresponse")
		w.statusAttrs(p.Response.Status, p.Response.Reason)
		if p.Response.Subscription != nil {
			w.subscription(p.Response.Subscription)
		}
		w.end()
	default:
		w.notification(p.Notification)
	}
	return w.finish()
}

// MarshalConsumer serialises c as a csb-consumer document, the way
// MarshalPublish does for csb-publish, against the schema of section 7
// (as repaired: both children of <job-info> and all of
// <response-job-info> in sequence, <encryption> allowed in
// <CloudServiceResponse>).
func MarshalConsumer(c *Consumer) ([]byte, error) {
	w := newWriter(consumerVocab)
	if c == nil {
		return nil, errors.New("csbmsg: cannot serialise a nil *Consumer")
	}
	w.root(c.Version)
	switch n := countSet(c.Request != nil, c.Response != nil); {
	case n != 1:
		w.fail("exactly one of Request and Response must be set, not %d", n)
	case c.Request != nil:
		q := c.Request
		w.open("CloudServiceRequest")
		if q.JobInfo != nil {
			w.open("job-info")
			w.tokenLeaf("job-id", q.JobInfo.JobID)
			enumLeaf(w, "action", q.JobInfo.Action, jobActions)
			w.end()
		}
		w.resources(q.IaaS, q.PaaS, q.SaaS, q.DSaaS)
		w.optBool("encryption", q.Encryption)
		w.end()
	default:
		w.serviceResponse(c.Response)
	}
	return w.finish()
}

// serviceResponse writes one <CloudServiceResponse>.
func (w *writer) serviceResponse(s *ServiceResponse) {
	w.open("CloudServiceResponse")
	w.statusAttrs(s.Status, s.Reason)
	if j := s.JobInfo; j != nil {
		w.open("response-job-info")
		w.tokenLeaf("job-id", j.JobID)
		w.strLeaf("job-status", j.JobStatus)
		w.leaf("expires", strconv.FormatUint(j.Expires, 10))
		w.optURILeaf("Cloud-service-URI", j.CloudServiceURI)
		w.end()
	}
	w.resources(s.IaaS, s.PaaS, s.SaaS, s.DSaaS)
	w.optBool("encryption", s.Encryption)
	w.end()
}

func countSet(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// writer builds an indented document and remembers the first problem,
// with the path of the element being written.
type writer struct {
	v       *vocab
	buf     []byte
	stack   []string
	pending bool // the last start tag is still open for attributes
	err     error
}

func newWriter(v *vocab) *writer {
	w := &writer{v: v, buf: make([]byte, 0, 2048)}
	w.buf = append(w.buf, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"...)
	return w
}

func (w *writer) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("csbmsg: cannot serialise /%s: %s", strings.Join(w.stack, "/"), fmt.Sprintf(format, args...))
	}
}

func (w *writer) finish() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	w.end() // the root
	return w.buf, nil
}

func (w *writer) root(version string) {
	if version != "" && collapse(version) != Version {
		w.fail("version %q is not %q", version, Version)
	}
	w.open(w.v.root)
	w.attr("xmlns", w.v.ns)
	w.attr("version", Version)
}

func (w *writer) indent() {
	for range len(w.stack) {
		w.buf = append(w.buf, ' ', ' ')
	}
}

func (w *writer) closePending() {
	if w.pending {
		w.buf = append(w.buf, ">\n"...)
		w.pending = false
	}
}

// open starts an element whose attributes follow through attr.
func (w *writer) open(name string) {
	w.closePending()
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.stack = append(w.stack, name)
	w.pending = true
}

func (w *writer) attr(name, value string) {
	if !w.pending {
		panic("csbmsg: attribute written after content")
	}
	if !isXMLString(value) {
		w.fail("attribute %s: %q holds a character XML cannot carry", name, sanitize(value, 32))
	}
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '=', '"')
	w.buf = escape(w.buf, value, true)
	w.buf = append(w.buf, '"')
}

// end closes the innermost open element.
func (w *writer) end() {
	name := w.stack[len(w.stack)-1]
	if w.pending {
		w.buf = append(w.buf, "/>\n"...)
		w.pending = false
		w.stack = w.stack[:len(w.stack)-1]
		return
	}
	w.stack = w.stack[:len(w.stack)-1]
	w.indent()
	w.buf = append(w.buf, "</"...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ">\n"...)
}

// leaf writes <name>text</name>; text must be valid already.
func (w *writer) leaf(name, text string) {
	w.closePending()
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
	w.buf = escape(w.buf, text, false)
	w.buf = append(w.buf, "</"...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ">\n"...)
}

func (w *writer) strLeaf(name, s string) {
	if !isXMLString(s) {
		w.fail("<%s>: %q holds a character XML cannot carry", name, sanitize(s, 32))
	}
	w.leaf(name, s)
}

func (w *writer) optStr(name string, s *string) {
	if s != nil {
		w.strLeaf(name, *s)
	}
}

func (w *writer) token(what, s string) string {
	v := collapse(s)
	if !isNMTOKEN(v) {
		w.fail("%s: %q is not an NMTOKEN", what, sanitize(s, 32))
	}
	return v
}

func (w *writer) tokenLeaf(name, s string) {
	w.leaf(name, w.token("<"+name+">", s))
}

func (w *writer) optToken(name string, s *string) {
	if s != nil {
		w.tokenLeaf(name, *s)
	}
}

func (w *writer) uriLeaf(name, s string) {
	v := collapse(s)
	if !isAnyURI(v) {
		w.fail("<%s>: %q is not a URI reference", name, sanitize(s, 64))
	}
	w.leaf(name, v)
}

// optURILeaf writes a URI held as a string, "" meaning absent.
func (w *writer) optURILeaf(name, s string) {
	if s != "" {
		w.uriLeaf(name, s)
	}
}

func (w *writer) optURI(name string, s *string) {
	if s != nil {
		w.uriLeaf(name, *s)
	}
}

func (w *writer) optUint(name string, v *uint64) {
	if v != nil {
		w.leaf(name, strconv.FormatUint(*v, 10))
	}
}

func (w *writer) optBool(name string, v *bool) {
	if v != nil {
		w.leaf(name, strconv.FormatBool(*v))
	}
}

func enumLeaf[T ~string](w *writer, name string, v T, values []T) {
	w.leaf(name, string(checkEnum(w, "<"+name+">", v, values)))
}

func optEnumLeaf[T ~string](w *writer, name string, v *T, values []T) {
	if v != nil {
		enumLeaf(w, name, *v, values)
	}
}

func checkEnum[T ~string](w *writer, what string, v T, values []T) T {
	c := T(collapse(string(v)))
	for _, x := range values {
		if x == c {
			return c
		}
	}
	w.fail("%s: %q is not one of %s", what, sanitize(string(v), 32), enumList(values))
	return v
}

func (w *writer) statusAttrs(s Status, reason string) {
	v, ok := formatStatus(s)
	if !ok {
		w.fail("status %d is not a three-digit status code", s)
	}
	w.attr("status", v)
	if reason != "" {
		w.attr("reason", reason)
	}
}

func (w *writer) subscription(s *Subscription) {
	w.open("subscription")
	w.attr("id", w.token("attribute id", s.ID))
	w.attr("seqnumber", strconv.FormatUint(s.SeqNumber, 10))
	w.attr("action", string(checkEnum(w, "attribute action", s.Action, subscriptionAction)))
	w.optUint("expires", s.Expires)
	w.optUint("frequency", s.Frequency)
	w.end()
}

func (w *writer) notification(n *Notification) {
	w.open("csbnotification")
	w.attr("id", w.token("attribute id", n.ID))
	w.attr("seqnumber", strconv.FormatUint(n.SeqNumber, 10))

	w.open("Cloud-Service-Provider")
	w.tokenLeaf("Cloud-Service-Provider-id", n.Provider.ID)
	enumLeaf(w, "Cloud-Service-Provider-status", n.Provider.Status, serviceStatuses)
	w.optURILeaf("Cloud-Service-Provider-URI", n.Provider.URI)
	w.end()

	if len(n.Services) == 0 {
		w.fail("a notification needs at least one Service")
	}
	for i := range n.Services {
		s := &n.Services[i]
		w.open("Cloud-Service")
		w.tokenLeaf("Cloud-Service-id", s.ID)
		enumLeaf(w, "Cloud-Service-status", s.Status, serviceStatuses)
		w.optURILeaf("Cloud-Service-URI", s.URI)
		if countSet(s.IaaS != nil, s.PaaS != nil, s.SaaS != nil, s.DSaaS != nil) > 1 {
			w.fail("at most one of IaaS, PaaS, SaaS and DSaaS may be set")
		}
		w.resources(s.IaaS, s.PaaS, s.SaaS, s.DSaaS)
		w.end()
	}
	w.optBool("encryption-support", n.EncryptionSupport)
	if n.Label != "" {
		w.tokenLeaf("label", n.Label)
	}
	w.end()
}

// resources writes the IaaS, PaaS, SaaS and DSaaS content with the
// package's element names.
func (w *writer) resources(iaas *IaaS, paas *PaaS, saas *SaaS, dsaas *DSaaS) {
	sfx := w.v.suffix
	if x := iaas; x != nil {
		w.open("IaaS" + sfx)
		w.link(x.Link)
		if c := x.Compute; c != nil {
			w.open("compute" + sfx)
			w.optStr("architecture", c.Architecture)
			w.optUint("cores", c.Cores)
			w.optStr("hostname", c.Hostname)
			w.optUint("speed", c.Speed)
			w.optUint("memory", c.Memory)
			optEnumLeaf(w, "status", c.Status, computeStatuses)
			optEnumLeaf(w, "action", c.Action, computeActions)
			w.end()
		}
		if n := x.Network; n != nil {
			w.open("network" + sfx)
			w.optToken("vlan", n.VLAN)
			w.optToken("VLANlabel", n.VLANLabel)
			w.optStr("address", n.Address)
			w.optStr("gateway", n.Gateway)
			optEnumLeaf(w, "allocation", n.Allocation, allocations)
			optEnumLeaf(w, "status", n.Status, networkStatuses)
			optEnumLeaf(w, "action", n.Action, networkActions)
			w.end()
		}
		if s := x.Storage; s != nil {
			w.open("storage" + sfx)
			w.optUint("size", s.Size)
			optEnumLeaf(w, "status", s.Status, storageStatuses)
			optEnumLeaf(w, "action", s.Action, storageActions)
			w.end()
		}
		if n := x.NetworkInterface; n != nil {
			w.open("NetworkInterface" + sfx)
			w.optToken("interface", n.Interface)
			w.optStr("mac", n.MAC)
			optEnumLeaf(w, "status", n.Status, networkStatuses)
			w.optStr("ip", n.IP)
			w.optStr("gateway", n.Gateway)
			optEnumLeaf(w, "allocation", n.Allocation, allocations)
			w.end()
		}
		if s := x.StorageLink; s != nil {
			w.open("storagelink" + sfx)
			w.optToken("deviceid", s.DeviceID)
			w.optStr("mountpoint", s.Mountpoint)
			optEnumLeaf(w, "status", s.Status, networkStatuses)
			w.end()
		}
		w.end()
	}
	if paas != nil {
		w.open("PaaS" + sfx)
		w.link(paas.Link)
		w.end()
	}
	if saas != nil {
		w.open("SaaS" + sfx)
		w.link(saas.Link)
		w.end()
	}
	if x := dsaas; x != nil {
		w.open("DSaaS" + sfx)
		w.link(x.Link)
		if o := x.DataObject; o != nil {
			w.open("DataObject" + sfx)
			w.optStr("mimetype", o.Mimetype)
			w.object(o.Metadata, &o.ObjectRefs)
			w.optStr("value", o.Value)
			w.optStr("status", o.Status)
			w.end()
		}
		if o := x.ContainerObject; o != nil {
			w.open("ContainerObject" + sfx)
			w.object(o.Metadata, &o.ObjectRefs)
			w.optStr("exports", o.Exports)
			w.optStr("snapshots", o.Snapshots)
			w.optStr("children", o.Children)
			w.optStr("status", o.Status)
			w.end()
		}
		if o := x.DomainObject; o != nil {
			w.open("DomainObject" + sfx)
			w.object(o.Metadata, &o.ObjectRefs)
			w.optBool("enabled", o.Enabled)
			w.optStr("children", o.Children)
			w.end()
		}
		if o := x.QueueObject; o != nil {
			w.open("QueueObject" + sfx)
			w.object(o.Metadata, &o.ObjectRefs)
			w.optStr("status", o.Status)
			w.end()
		}
		if o := x.CapabilityObject; o != nil {
			w.open("CapabilityObject" + sfx)
			optEnumLeaf(w, "type", o.Type, capabilityTypes)
			w.object(nil, &o.ObjectRefs)
			w.optStr("status", o.Status)
			w.end()
		}
		w.end()
	}
}

// object writes <metadata> (when set) and the children of ObjectRefs.
func (w *writer) object(metadata *string, o *ObjectRefs) {
	w.optStr("metadata", metadata)
	w.optURI("objectURI", o.ObjectURI)
	w.optToken("objectID", o.ObjectID)
	w.optURI("parentURI", o.ParentURI)
	w.optURI("domainURI", o.DomainURI)
	w.optURI("capabilitiesURI", o.CapabilitiesURI)
}

func (w *writer) link(l *Link) {
	if l == nil {
		return
	}
	w.open("Link")
	if l.Rel != "" {
		w.strLeaf("rel", l.Rel)
	}
	w.optURILeaf("href", l.Href)
	w.end()
}

// escape appends s with the XML special characters escaped. In attribute
// values tab, newline and carriage return are written as character
// references, since attribute-value normalisation would turn them into
// spaces; in text only the carriage return is, since line-end handling
// would turn it into a newline.
func escape(buf []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\r':
			esc = "&#xD;"
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		default:
			continue
		}
		buf = append(buf, s[last:i]...)
		buf = append(buf, esc...)
		last = i + 1
	}
	return append(buf, s[last:]...)
}
