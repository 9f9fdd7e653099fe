// Package cdmi is the cloud service adapter for DSaaS providers that speak
// SNIA CDMI 1.1.1: capabilities discovery, containers, data objects (value,
// mimetype, metadata), domains and queue objects, with the
// X-CDMI-Specification-Version header and the application/cdmi-* content
// types. The CSB <-> CDMI mapping is in mapping.go and README.md.
//
// Each job gets its own container (<prefix><job-id>/) that holds its data
// and queue objects, and its own domain when it asks for one, so Remove
// deletes exactly what the job created.
//
// This package does not import Caddy.
package cdmi

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Config configures the adapter.
type Config struct {
	// Endpoint is the CDMI root URI (the root container), e.g.
	// https://storage.example/cdmi/. Required.
	Endpoint string `json:"endpoint"`
	// Prefix prefixes job container and domain names. Default "csb-".
	Prefix string `json:"prefix,omitempty"`
}

// Adapter talks to one CDMI provider. It is safe for concurrent use.
type Adapter struct {
	contract.BrokerAuth
	cfg  Config
	http httpx.Slot
}

// New returns an adapter for the CDMI root at cfg.Endpoint.
func New(cfg Config) (*Adapter, error) {
	if err := httpx.CheckEndpoint("cdmi", cfg.Endpoint); err != nil {
		return nil, err
	}
	// Object and container URLs are the root's URL and a path: a query
	// or a fragment on the root would end up inside every path.
	if strings.ContainsAny(cfg.Endpoint, "?#") {
		return nil, fmt.Errorf("cdmi: endpoint %q: the CDMI root URL takes no query or fragment", peerurl.RedactString(cfg.Endpoint))
	}
	if !strings.HasSuffix(cfg.Endpoint, "/") {
		cfg.Endpoint += "/"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "csb-"
	}
	a := &Adapter{cfg: cfg}
	a.SetHTTPClient(nil)
	return a, nil
}

// SetHTTPClient sets the client used for every call. Nil means a shared
// default client.
func (a *Adapter) SetHTTPClient(c *http.Client) {
	a.http.Set(c, http.Header{VersionHeader: {Version}})
}

func (a *Adapter) client() *httpx.Client { return a.http.Get() }

// object is a CDMI object representation (any type).
type object struct {
	ObjectType       string         `json:"objectType,omitempty"`
	ObjectID         string         `json:"objectID,omitempty"`
	ObjectName       string         `json:"objectName,omitempty"`
	ParentURI        string         `json:"parentURI,omitempty"`
	DomainURI        string         `json:"domainURI,omitempty"`
	CapabilitiesURI  string         `json:"capabilitiesURI,omitempty"`
	CompletionStatus string         `json:"completionStatus,omitempty"`
	Metadata         map[string]any `json:"metadata,omitempty"`
	Mimetype         string         `json:"mimetype,omitempty"`
	Value            *string        `json:"value,omitempty"`
	ValueEncoding    string         `json:"valuetransferencoding,omitempty"`
	Children         []string       `json:"children,omitempty"`
	ChildrenRange    *string        `json:"childrenrange,omitempty"`
	QueueValues      string         `json:"queueValues,omitempty"`
	Capabilities     map[string]any `json:"capabilities,omitempty"`
}

func (a *Adapter) url(path string) string { return a.cfg.Endpoint + strings.TrimPrefix(path, "/") }

func (a *Adapter) put(ctx context.Context, op, url, ct string, body *object) (*object, error) {
	var out object
	resp, err := a.client().Do(ctx, httpx.Call{Op: op, Method: http.MethodPut, URL: url, JSON: body, ContentType: ct, Accept: ct, Out: &out})
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNoContent || len(resp.Body) == 0 {
		return nil, nil
	}
	return &out, nil
}

func (a *Adapter) get(ctx context.Context, op, url, ct string) (*object, error) {
	var out object
	if _, err := a.client().Do(ctx, httpx.Call{Op: op, Method: http.MethodGet, URL: url, Accept: ct, Out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

func (a *Adapter) del(ctx context.Context, op, url string) error {
	_, err := a.client().Do(ctx, httpx.Call{Op: op, Method: http.MethodDelete, URL: url})
	if contract.KindOf(err) == contract.KindNotFound {
		return nil
	}
	return err
}

// Native keys of a Resource.
const (
	keyContainer = "container"
	keyData      = "data_object"
	keyQueue     = "queue_object"
	keyDomain    = "domain"
	keyCap       = "capability"
)

var nmtoken = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

func unsupported(op, format string, args ...any) error {
	return contract.Errorf(contract.KindUnsupported, op, format, args...)
}

// metadataOut turns the draft's metadata string into CDMI user metadata.
func metadataOut(s *string) map[string]any {
	if s == nil {
		return map[string]any{}
	}
	var obj map[string]any
	if json.Unmarshal([]byte(*s), &obj) == nil && obj != nil {
		return obj
	}
	return map[string]any{"csb_metadata": *s}
}

// metadataIn turns CDMI metadata back into the draft's string: the user
// items only (cdmi_* items are the system's).
func metadataIn(m map[string]any) *string {
	user := map[string]any{}
	for k, v := range m {
		if !strings.HasPrefix(k, "cdmi_") {
			user[k] = v
		}
	}
	if len(user) == 0 {
		return nil
	}
	if s, ok := user["csb_metadata"].(string); ok && len(user) == 1 {
		return &s
	}
	b, _ := json.Marshal(user)
	s := string(b)
	return &s
}

// Status reads every object of the job back.
func (a *Adapter) Status(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	const op = "status"
	out := res.Clone()
	out.State = contract.StateReady
	ds := &csbmsg.DSaaS{}
	var parts model.Parts
	read := func(key, ct string) (*object, error) {
		url := res.Native[key]
		if url == "" {
			return nil, nil
		}
		if key != keyCap {
			parts.Held++
		}
		o, err := a.get(ctx, op+": read "+key, url+selection(key), ct)
		if contract.KindOf(err) == contract.KindNotFound && key != keyCap {
			parts.Gone++
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(o.CompletionStatus, "Processing"):
			out.State = contract.Worse(out.State, contract.StatePending)
		case strings.HasPrefix(o.CompletionStatus, "Error"):
			out.State = contract.Worse(out.State, contract.StateFailed)
		}
		return o, nil
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	// refs are the object's place: its URI at the broker's side and
	// the references CDMI returned.
	refs := func(key string, o *object) csbmsg.ObjectRefs {
		return csbmsg.ObjectRefs{ObjectURI: str(res.Native[key]), ObjectID: str(o.ObjectID), ParentURI: str(o.ParentURI),
			DomainURI: str(o.DomainURI), CapabilitiesURI: str(o.CapabilitiesURI)}
	}
	o, err := read(keyContainer, TypeContainer)
	if err != nil {
		return nil, err
	}
	if o != nil {
		kids, err := a.children(ctx, op+": read container children", res.Native[keyContainer], TypeContainer, o)
		if err != nil {
			return nil, err
		}
		ds.ContainerObject = &csbmsg.ContainerObject{Metadata: metadataIn(o.Metadata), ObjectRefs: refs(keyContainer, o),
			Status: str(o.CompletionStatus), Children: kids}
	}
	if o, err = read(keyData, TypeObject); err != nil {
		return nil, err
	}
	if o != nil {
		v, err := a.value(ctx, op+": read data_object value", res.Native[keyData], o)
		if err != nil {
			return nil, err
		}
		ds.DataObject = &csbmsg.DataObject{Mimetype: str(o.Mimetype), Metadata: metadataIn(o.Metadata), ObjectRefs: refs(keyData, o), Value: v, Status: str(o.CompletionStatus)}
	}
	if o, err = read(keyQueue, TypeQueue); err != nil {
		return nil, err
	}
	if o != nil {
		ds.QueueObject = &csbmsg.QueueObject{Metadata: metadataIn(o.Metadata), ObjectRefs: refs(keyQueue, o), Status: str(o.CompletionStatus)}
	}
	if o, err = read(keyDomain, TypeDomain); err != nil {
		return nil, err
	}
	if o != nil {
		kids, err := a.children(ctx, op+": read domain children", res.Native[keyDomain], TypeDomain, o)
		if err != nil {
			return nil, err
		}
		d := &csbmsg.DomainObject{Metadata: metadataIn(withoutKey(o.Metadata, "cdmi_domain_enabled")), ObjectRefs: refs(keyDomain, o), Children: kids}
		if v, ok := o.Metadata["cdmi_domain_enabled"]; ok {
			e := fmt.Sprint(v) == "true"
			d.Enabled = &e
		}
		ds.DomainObject = d
	}
	if o, err = read(keyCap, TypeCapability); err != nil {
		return nil, err
	}
	if o != nil {
		c := &csbmsg.CapabilityObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: str(res.Native[keyCap]), ObjectID: str(o.ObjectID), ParentURI: str(o.ParentURI)}}
		if b, err := json.Marshal(o.Capabilities); err == nil {
			c.Status = str(string(b))
		}
		ds.CapabilityObject = c
	}
	out.State = parts.State(out.State, res)
	out.Granted = csbmsg.ServiceRequest{DSaaS: ds}
	return out, nil
}

// dataFields selects the fields of a data object that Status and Find
// read: all but its value (CDMI 1.1.1 reads the fields a client names,
// GET <object>?<fieldname>;<fieldname>;...). A data object may hold more
// than the largest answer the adapter reads (httpx.MaxBody), and neither
// its state, its references nor its metadata need the value.
const dataFields = "?objectType;objectID;objectName;parentURI;domainURI;capabilitiesURI;completionStatus;mimetype;metadata"

// containerFields selects the fields of a container or domain that
// Status and Find read first: all but its children, and the range of
// them (childrenrange). A container may hold more children than the
// largest answer the adapter reads lists; Status then reads them in
// pages (children).
const containerFields = "?objectType;objectID;objectName;parentURI;domainURI;capabilitiesURI;completionStatus;metadata;childrenrange"

// selection is the field selection a read of the object at key asks for.
func selection(key string) string {
	switch key {
	case keyData:
		return dataFields
	case keyContainer, keyDomain:
		return containerFields
	}
	return ""
}

// childrenGrant bounds the list of children a grant carries, in bytes:
// the first children, in the server's order, as many whole names as fit
// joined with commas. The grant is copied into the job's record, which
// is written again on every change of the job, into the consumer's
// answers and into every job listing: a container with 100,000 children
// made each of them megabytes long. 8 KiB is a page of names (some 160
// of 50 bytes), and stays below the 64 KiB a reader of CSB messages takes
// in one element (csbmsg.DefaultMaxTextBytes) even when every character
// is escaped in the XML answer (at most 5 bytes each). The draft's
// ContainerObject and DomainObject have no element for the number of
// children, so the list is all the grant says of them.
const childrenGrant = 8 << 10

// childrenPage is how many children a read of a container's children
// asks for at first (GET <container>?children:<from>-<to>); an answer
// too large for the adapter halves it. With names of 32 bytes or more,
// one read fills childrenGrant.
const childrenPage = 256

// children returns the children of a container or domain for its grant
// (at most childrenGrant bytes of names, nil for none), o being the
// object as read with containerFields. A server that ignores the field
// selection has sent them already; one that gives no childrenrange is
// asked for them whole (?children). Otherwise they are read in ranges
// (CDMI 1.1.1, 9.4: ?children:<range>) until the grant is full or the
// last child is read, each next range starting after the last child the
// previous answer held, so a server that sends fewer children than
// asked (its own page limit) is read on all the same. Without the ranges
// a container whose list of children was larger than an answer the
// adapter reads (httpx.MaxBody) failed every Status; the adapter needs
// the names for the grant only (Remove deletes a container with its
// children), so no more of them are read than it carries.
func (a *Adapter) children(ctx context.Context, op, url, ct string, o *object) (*string, error) {
	var kids childList
	if o.Children != nil {
		kids.add(o.Children)
		return kids.text(), nil
	}
	whole := func() (*string, error) {
		c, err := a.get(ctx, op, url+"?children", ct)
		if contract.KindOf(err) == contract.KindNotFound {
			return nil, nil // deleted since it was read: the next Status sees it gone
		}
		if err != nil {
			return nil, err
		}
		kids.add(c.Children)
		return kids.text(), nil
	}
	if o.ChildrenRange == nil {
		return whole()
	}
	if *o.ChildrenRange == "" {
		return nil, nil // no children
	}
	first, last, ok := parseRange(*o.ChildrenRange)
	if !ok {
		return whole()
	}
	page := childrenPage
	for next := first; next <= last && !kids.full; {
		to := min(next+page-1, last)
		c, err := a.get(ctx, op, url+"?children:"+strconv.Itoa(next)+"-"+strconv.Itoa(to), ct)
		switch {
		case tooLarge(err) && to > next:
			page = (to - next + 1) / 2
			continue
		case contract.KindOf(err) == contract.KindNotFound:
			return nil, nil // deleted since it was read: the next Status sees it gone
		case err != nil:
			return nil, err
		}
		n := len(c.Children)
		if n == 0 {
			break // fewer children than when the range was read
		}
		if n > to-next+1 {
			if next == first {
				kids.add(c.Children) // the server ignores the range: all of them
				return kids.text(), nil
			}
			return nil, contract.Errorf(contract.KindServer, op, "asked for children %d-%d, the server sent %d", next, to, n)
		}
		kids.add(c.Children)
		next += n
	}
	return kids.text(), nil
}

// childList gathers the children a grant carries: whole names joined
// with commas, at most childrenGrant bytes.
type childList struct {
	b    strings.Builder
	full bool // a name did not fit: no later one is taken
}

func (l *childList) add(names []string) {
	for _, name := range names {
		if l.full {
			return
		}
		size := len(name)
		if l.b.Len() > 0 {
			size++ // the comma
		}
		if l.b.Len()+size > childrenGrant {
			l.full = true
			return
		}
		if l.b.Len() > 0 {
			l.b.WriteByte(',')
		}
		l.b.WriteString(name)
	}
}

// text is the list for the grant, nil when it holds no name.
func (l *childList) text() *string {
	if l.b.Len() == 0 {
		return nil
	}
	s := l.b.String()
	return &s
}

// parseRange reads a CDMI range, <first>-<last> (both inclusive).
func parseRange(s string) (first, last int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	f, err1 := strconv.Atoi(a)
	l, err2 := strconv.Atoi(b)
	if !found || err1 != nil || err2 != nil || f < 0 || l < f {
		return 0, 0, false
	}
	return f, l, true
}

// tooLarge reports whether err is a 2xx answer the adapter could not
// read: larger than httpx.MaxBody, or undecodable.
func tooLarge(err error) bool {
	var ae *contract.Error
	return errors.As(err, &ae) && ae.Kind == contract.KindServer && ae.Status >= 200 && ae.Status < 300
}

// value returns a data object's value for its grant, o being the object
// read without it (dataFields). The value is read only when the object's
// cdmi_size says it fits an answer the adapter reads, or when the server
// gives no size; a larger value, or one whose answer turns out too large
// or unreadable, is left out of the grant rather than failing Status. A
// server that ignores the field selection has sent the value already.
// The value granted is the one stored (decoded: storedValue).
func (a *Adapter) value(ctx context.Context, op, url string, o *object) (*string, error) {
	if o.Value != nil {
		return storedValue(o), nil
	}
	if size, ok := cdmiSize(o.Metadata); ok && size >= httpx.MaxBody {
		return nil, nil
	}
	v, err := a.get(ctx, op, url+"?valuetransferencoding;value", TypeObject)
	var ae *contract.Error
	switch {
	case errors.As(err, &ae) && ae.Kind == contract.KindServer && ae.Status >= 200 && ae.Status < 300:
		return nil, nil // an answer too large (or unreadable) for a value the grant can do without
	case contract.KindOf(err) == contract.KindNotFound:
		return nil, nil // deleted since it was read: the next Status sees it gone
	case err != nil:
		return nil, err
	}
	return storedValue(v), nil
}

// storedValue returns the value a data object stores, o being the object
// as read with its value and valuetransferencoding. CDMI transports the
// value of an object stored with valuetransferencoding base64 (as a
// consumer may write it through the job's route) base64-encoded; it was
// granted so, and a consumer that had stored "hello" got "aGVsbG8=". It
// is now decoded. The adapter itself writes values as utf-8 (a draft
// value is text), which is transported as stored. A value that does not
// decode, or whose bytes are not UTF-8 text (binary data, which no grant
// can carry), is left out of the grant, as a value too large is.
func storedValue(o *object) *string {
	if o.Value == nil || !strings.EqualFold(o.ValueEncoding, "base64") {
		return o.Value
	}
	b, err := base64.StdEncoding.DecodeString(*o.Value)
	if err != nil || !utf8.Valid(b) {
		return nil
	}
	s := string(b)
	return &s
}

// cdmiSize reads the cdmi_size metadata item (the value's length in
// bytes), a string in CDMI 1.1.1 but a number from some servers.
func cdmiSize(meta map[string]any) (int64, bool) {
	switch v := meta["cdmi_size"].(type) {
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case float64:
		return int64(v), true
	}
	return 0, false
}

func withoutKey(m map[string]any, k string) map[string]any {
	out := make(map[string]any, len(m))
	for key, v := range m {
		if key != k {
			out[key] = v
		}
	}
	return out
}

// Update rewrites what the request changes: a data object's value,
// mimetype or metadata, a container's, queue's or domain's metadata, a
// domain's enabled flag.
func (a *Adapter) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	const op = "update"
	want := req.Want.DSaaS
	if want == nil {
		return nil, unsupported(op, "the cdmi adapter updates DSaaS only")
	}
	for _, c := range []struct {
		asked bool
		key   string
	}{{want.ContainerObject != nil, keyContainer}, {want.DataObject != nil, keyData}, {want.QueueObject != nil, keyQueue}, {want.DomainObject != nil, keyDomain}} {
		if c.asked && res.Native[c.key] == "" {
			return nil, unsupported(op, "adding a %s to an existing job", c.key)
		}
	}
	capPath := ""
	if c := want.CapabilityObject; c != nil {
		capPath = CapabilityPaths[csbmsg.CapSystemWide]
		if c.Type != nil {
			p, ok := CapabilityPaths[*c.Type]
			if !ok {
				return nil, unsupported(op, "unknown capability object type %q", *c.Type)
			}
			capPath = p
		}
	}
	// An update is all or nothing. Its metadata changes (container,
	// queue, domain) come first, each after a read of the metadata it
	// replaces, and the data object's change (one PUT of its value,
	// mimetype and metadata) last: when a step fails, the metadata
	// changes before it, and its own when it may have been carried out
	// unseen, are undone. Before, a container change that succeeded
	// stayed when the data object's change then failed (a 507 for its
	// value): the broker kept the job's old request, and its old grant,
	// while the provider held the new container metadata. A data
	// object's value is not undone, which would need the old value read
	// whole, possibly larger than an answer: hence it comes last.
	var done []restore
	fail := func(err error) (*contract.Resource, error) {
		if uerr := a.undo(ctx, done); uerr != nil {
			var ae *contract.Error
			if errors.As(err, &ae) {
				e := *ae
				e.Err = fmt.Errorf("%w; undoing the update's earlier changes failed: %v", ae.Err, uerr)
				err = &e
			}
		}
		return nil, err
	}
	meta := func(what, key, ct string, body func(prev map[string]any) map[string]any) error {
		url := res.Native[key]
		prev, err := a.get(ctx, op+": read "+what, url+"?metadata", ct)
		if err != nil {
			return err
		}
		sent := body(prev.Metadata)
		r := restore{what: what, url: url, ct: ct, metadata: restored(prev.Metadata, sent)}
		if err := a.change(ctx, op+": "+what, url, ct, &object{Metadata: sent}); err != nil {
			if mayHaveCreated(err) {
				done = append(done, r)
			}
			return err
		}
		done = append(done, r)
		return nil
	}
	if c := want.ContainerObject; c != nil && c.Metadata != nil {
		if err := meta("container metadata", keyContainer, TypeContainer, func(map[string]any) map[string]any { return metadataOut(c.Metadata) }); err != nil {
			return fail(err)
		}
	}
	if q := want.QueueObject; q != nil && q.Metadata != nil {
		if err := meta("queue metadata", keyQueue, TypeQueue, func(map[string]any) map[string]any { return metadataOut(q.Metadata) }); err != nil {
			return fail(err)
		}
	}
	if d := want.DomainObject; d != nil && (d.Metadata != nil || d.Enabled != nil) {
		// The enabled flag is a metadata item, and a PUT of metadata
		// replaces them all: of the user items and the flag, the one the
		// request leaves out is written as it was. Before, disabling a
		// domain wiped its user metadata, and new metadata dropped its
		// enabled flag.
		keep := func(prev map[string]any) map[string]any {
			m := domainMeta(d)
			for k, v := range prev {
				if d.Metadata == nil && !strings.HasPrefix(k, "cdmi_") || d.Enabled == nil && k == "cdmi_domain_enabled" {
					m[k] = v
				}
			}
			return m
		}
		if err := meta("domain", keyDomain, TypeDomain, keep); err != nil {
			return fail(err)
		}
	}
	if d := want.DataObject; d != nil && (d.Value != nil || d.Mimetype != nil || d.Metadata != nil) {
		body := &object{Value: d.Value, Mimetype: deref(d.Mimetype)}
		if d.Value != nil {
			body.ValueEncoding = "utf-8"
		}
		if d.Metadata != nil {
			body.Metadata = metadataOut(d.Metadata)
		}
		if err := a.change(ctx, op+": data object", res.Native[keyData], TypeObject, body); err != nil {
			return fail(err)
		}
	}
	if capPath != "" {
		out := res.Clone()
		out.Native[keyCap] = a.url(capPath)
		res = out
	}
	st, err := a.Status(ctx, res)
	if err != nil && contract.KindOf(err) != contract.KindNotFound {
		// Every change went through; only the read of their result
		// failed (a timeout, a 503). Failing the update here made the
		// broker record it failed and keep the job's old request (and
		// grant) while the provider held the new values. A capability
		// object the provider does not have (404) is a change that
		// failed, and still fails the update.
		return applied(res, want), nil
	}
	return st, err
}

// applied is the resource an update hands back when all its changes went
// through but the read of their result failed: res (the job's resource,
// with the capability object the update names) granting what it granted
// before with the values want changed (the metadata, mimetype, value and
// enabled flag Update writes). Its state is pending, the contract's "not
// settled yet, ask Status" (or failed or gone when it was so before): the
// broker records the update as done and keeps this resource, and the next
// Status (the broker's resource check, a later update) reads the actual
// values.
func applied(res *contract.Resource, want *csbmsg.DSaaS) *contract.Resource {
	out := res.Clone()
	g := csbmsg.DSaaS{}
	if res.Granted.DSaaS != nil {
		g = *res.Granted.DSaaS // each element changed below is copied first
	}
	if c := want.ContainerObject; c != nil && c.Metadata != nil {
		g.ContainerObject = model.CopyOf(g.ContainerObject)
		g.ContainerObject.Metadata = c.Metadata
	}
	if q := want.QueueObject; q != nil && q.Metadata != nil {
		g.QueueObject = model.CopyOf(g.QueueObject)
		g.QueueObject.Metadata = q.Metadata
	}
	if d := want.DomainObject; d != nil && (d.Metadata != nil || d.Enabled != nil) {
		g.DomainObject = model.CopyOf(g.DomainObject)
		g.DomainObject.Metadata = cmp.Or(d.Metadata, g.DomainObject.Metadata)
		g.DomainObject.Enabled = cmp.Or(d.Enabled, g.DomainObject.Enabled)
	}
	if d := want.DataObject; d != nil && (d.Value != nil || d.Mimetype != nil || d.Metadata != nil) {
		g.DataObject = model.CopyOf(g.DataObject)
		g.DataObject.Value = cmp.Or(d.Value, g.DataObject.Value)
		g.DataObject.Mimetype = cmp.Or(d.Mimetype, g.DataObject.Mimetype)
		g.DataObject.Metadata = cmp.Or(d.Metadata, g.DataObject.Metadata)
	}
	if url := out.Native[keyCap]; url != "" && (g.CapabilityObject == nil || g.CapabilityObject.ObjectURI == nil || *g.CapabilityObject.ObjectURI != url) {
		g.CapabilityObject = &csbmsg.CapabilityObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &url}}
	}
	out.Granted = csbmsg.ServiceRequest{DSaaS: &g}
	out.State = contract.Worse(res.State, contract.StatePending)
	return out
}

// restore is how to undo one of an update's metadata changes: the
// metadata to write back over the object at url.
type restore struct {
	what, url, ct string
	metadata      map[string]any
}

// restored is the metadata that undoes a change that sent sent over prev
// (the object's metadata as read before it): prev's user items, and the
// system items (cdmi_*) the change sent, as prev had them. Other system
// items (cdmi_size, cdmi_ctime, ...) are the server's and not written.
func restored(prev, sent map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range prev {
		if !strings.HasPrefix(k, "cdmi_") {
			out[k] = v
		}
	}
	for k := range sent {
		if v, ok := prev[k]; ok && strings.HasPrefix(k, "cdmi_") {
			out[k] = v
		}
	}
	return out
}

// undoTimeout bounds undo, which runs on after the update's own context
// has ended (a deadline, a broker shutting down).
const undoTimeout = 30 * time.Second

// undo writes back the metadata a failed update changed, latest first.
// It runs on after ctx ends (bounded by undoTimeout): a deadline is what
// most often cuts an update short, and the broker, which keeps the job's
// old request when Update fails, would otherwise grant the old metadata
// while the provider holds the new.
func (a *Adapter) undo(ctx context.Context, done []restore) error {
	if len(done) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		r := done[i]
		if err := a.change(ctx, "update: undo "+r.what, r.url, r.ct, &object{Metadata: r.metadata}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// change writes body over the object at url (PUT). A PUT whose answer
// did not come back usable (lost after the retries, a 5xx, an unreadable
// 2xx: mayHaveCreated) may have been carried out all the same: the object
// is then read back, and the change counts as done when the object holds
// what body asks. Without this the update was reported failed, and the
// broker kept the job's old request, while the provider held the new
// value. A change the object does not show stays failed.
func (a *Adapter) change(ctx context.Context, op, url, ct string, body *object) error {
	_, err := a.put(ctx, op, url, ct, body)
	if err == nil || !mayHaveCreated(err) || ctx.Err() != nil {
		return err
	}
	sel := ""
	switch ct {
	case TypeObject:
		sel = dataFields
	case TypeContainer, TypeDomain:
		sel = containerFields
	}
	o, gerr := a.get(ctx, op+": read back", url+sel, ct)
	if gerr != nil {
		return err
	}
	if body.Mimetype != "" && o.Mimetype != body.Mimetype {
		return err
	}
	if body.Metadata != nil && !sameMetadata(body.Metadata, o.Metadata) {
		return err
	}
	if body.Value != nil {
		if size, ok := cdmiSize(o.Metadata); ok && size != int64(len(*body.Value)) {
			return err
		}
		v, verr := a.value(ctx, op+": read back value", url, o)
		if verr != nil || v == nil || *v != *body.Value {
			return err
		}
	}
	return nil
}

// sameMetadata reports whether an object's metadata (have, as read)
// holds what a PUT sent (sent): the same user items, no other user item
// (a PUT's metadata replaces the user items), and the system items
// (cdmi_*) sent, by their text.
func sameMetadata(sent, have map[string]any) bool {
	user := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			if !strings.HasPrefix(k, "cdmi_") {
				out[k] = v
			}
		}
		// Through JSON, as the server got and gave them: numbers are
		// float64 on both sides.
		b, _ := json.Marshal(out)
		out = map[string]any{}
		_ = json.Unmarshal(b, &out)
		return out
	}
	if !reflect.DeepEqual(user(sent), user(have)) {
		return false
	}
	for k, v := range sent {
		if strings.HasPrefix(k, "cdmi_") {
			if h, ok := have[k]; !ok || fmt.Sprint(h) != fmt.Sprint(v) {
				return false
			}
		}
	}
	return true
}

// Remove deletes the job's objects, its container and its domain. What is
// already gone counts as removed.
func (a *Adapter) Remove(ctx context.Context, res *contract.Resource) error {
	const op = "remove"
	for _, k := range []string{keyData, keyQueue, keyContainer, keyDomain} {
		if url := res.Native[k]; url != "" {
			if err := a.del(ctx, op+": delete "+k, url); err != nil {
				return err
			}
		}
	}
	return nil
}

// Discover reads the system-wide capabilities and offers one DSaaS
// service with the object kinds the provider supports.
func (a *Adapter) Discover(ctx context.Context) ([]csbmsg.Service, error) {
	const op = "discover"
	root, err := a.get(ctx, op+": capabilities", a.url("cdmi_capabilities/"), TypeCapability)
	if err != nil {
		return nil, err
	}
	on := func(name string) bool { return fmt.Sprint(root.Capabilities[name]) == "true" }
	ds := &csbmsg.DSaaS{
		ContainerObject:  &csbmsg.ContainerObject{},
		CapabilityObject: &csbmsg.CapabilityObject{},
	}
	if on("cdmi_dataobjects") {
		ds.DataObject = &csbmsg.DataObject{}
	}
	if on("cdmi_queues") {
		ds.QueueObject = &csbmsg.QueueObject{}
	}
	if on("cdmi_domains") {
		ds.DomainObject = &csbmsg.DomainObject{}
	}
	return []csbmsg.Service{{ID: "cdmi", Status: csbmsg.ServiceActive, URI: a.cfg.Endpoint, DSaaS: ds}}, nil
}

// ServiceKinds reports the service model the adapter serves.
func (a *Adapter) ServiceKinds() []string { return []string{"DSaaS"} }

// Interface guards.
var (
	_ contract.KindReporter = (*Adapter)(nil)
	_ contract.Adapter      = (*Adapter)(nil)
	_ contract.Discoverer   = (*Adapter)(nil)
	_ contract.Finder       = (*Adapter)(nil)
)
