package csbconsole

// The new-request form: its fields, and the draft's request they build.

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// requestForm is the new-request form's values, as typed.
type requestForm struct {
	Kind       string // iaas, dsaas, paas, saas
	Arch       string
	Cores      string
	Memory     string // GB
	Storage    string // GB
	Container  string
	Object     string
	Mimetype   string
	Content    string
	Rel        string
	Href       string
	Encryption bool
	Lease      string // minutes
	// Key is the idempotency key of the form: a resubmitted form (a
	// double click, the back button) returns the job the first submit
	// made instead of a second one.
	Key string

	// Errors are the fields' problems, by field name.
	Errors map[string]string
}

// maxFieldBytes bounds a text field, as the broker's XML reader bounds a
// text value by default (xml max_text_size, 64 KiB): the form cannot
// send what the Consumer interface would refuse.
const maxFieldBytes = 64 << 10

// architectures offered in the form (the draft's examples and the
// sandbox's); an empty choice asks for any.
var architectures = []string{"x86_64", "aarch64", "i686"}

func readForm(v url.Values) *requestForm {
	f := &requestForm{
		Kind:       strings.TrimSpace(v.Get("kind")),
		Arch:       strings.TrimSpace(v.Get("arch")),
		Cores:      strings.TrimSpace(v.Get("cores")),
		Memory:     strings.TrimSpace(v.Get("memory")),
		Storage:    strings.TrimSpace(v.Get("storage")),
		Container:  strings.TrimSpace(v.Get("container")),
		Object:     strings.TrimSpace(v.Get("object")),
		Mimetype:   strings.TrimSpace(v.Get("mimetype")),
		Content:    v.Get("content"),
		Rel:        strings.TrimSpace(v.Get("rel")),
		Href:       strings.TrimSpace(v.Get("href")),
		Encryption: v.Get("encryption") == "on",
		Lease:      strings.TrimSpace(v.Get("lease")),
		Key:        strings.TrimSpace(v.Get("key")),
		Errors:     map[string]string{},
	}
	if f.Kind == "" {
		f.Kind = "iaas"
	}
	return f
}

// values writes the form back as query values (the explain link and the
// hidden fields of the submit form).
func (f *requestForm) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("kind", f.Kind)
	set("arch", f.Arch)
	set("cores", f.Cores)
	set("memory", f.Memory)
	set("storage", f.Storage)
	set("container", f.Container)
	set("object", f.Object)
	set("mimetype", f.Mimetype)
	set("content", f.Content)
	set("rel", f.Rel)
	set("href", f.Href)
	if f.Encryption {
		v.Set("encryption", "on")
	}
	set("lease", f.Lease)
	set("key", f.Key)
	return v
}

// Hidden lists the form's values as name/value pairs in a stable order,
// for hidden inputs.
func (f *requestForm) Hidden() [][2]string {
	v := f.values()
	var out [][2]string
	for _, k := range []string{"kind", "arch", "cores", "memory", "storage", "container", "object", "mimetype", "content", "rel", "href", "encryption", "lease", "key"} {
		if s, ok := v[k]; ok {
			out = append(out, [2]string{k, s[0]})
		}
	}
	return out
}

// Query is the form as a query string (the explain page's address).
func (f *requestForm) Query() string { return f.values().Encode() }

// Architectures is the form's architecture choice.
func (f *requestForm) Architectures() []string { return architectures }

func (f *requestForm) positive(field, s string, max uint64) *uint64 {
	if s == "" {
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > max {
		f.Errors[field] = fmt.Sprintf("Enter a whole number from 1 to %d.", max)
		return nil
	}
	return &n
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// build returns the draft's request the form describes, or nil with
// f.Errors set.
func (f *requestForm) build() *csbmsg.ServiceRequest {
	req := &csbmsg.ServiceRequest{}
	switch f.Kind {
	case "iaas":
		c := &csbmsg.Compute{
			Cores:  f.positive("cores", f.Cores, 4096),
			Memory: f.positive("memory", f.Memory, 1<<20),
		}
		if f.Arch != "" {
			ok := false
			for _, a := range architectures {
				ok = ok || a == f.Arch
			}
			if !ok {
				f.Errors["arch"] = "Choose one of the listed architectures."
			}
			c.Architecture = &f.Arch
		}
		req.IaaS = &csbmsg.IaaS{Compute: c}
		if size := f.positive("storage", f.Storage, 1<<30); size != nil {
			req.IaaS.Storage = &csbmsg.Storage{Size: size}
		}
		if c.Cores == nil && c.Memory == nil && c.Architecture == nil && req.IaaS.Storage == nil && len(f.Errors) == 0 {
			f.Errors["cores"] = "Ask for at least cores, memory, storage or an architecture."
		}
	case "dsaas":
		for name, v := range map[string]string{"container": f.Container, "object": f.Object, "mimetype": f.Mimetype, "content": f.Content} {
			if len(v) > maxFieldBytes {
				f.Errors[name] = fmt.Sprintf("Keep this under %d KiB: the broker refuses longer values (xml max_text_size).", maxFieldBytes>>10)
			}
		}
		d := &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}}
		if f.Container != "" {
			d.ContainerObject.ObjectID = &f.Container
		}
		if f.Object != "" || f.Content != "" {
			if f.Object == "" {
				f.Errors["object"] = "Name the object the content goes in."
			}
			d.DataObject = &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: optional(f.Object)}, Mimetype: optional(f.Mimetype), Value: optional(f.Content)}
		}
		req.DSaaS = d
	case "paas", "saas":
		if len(f.Rel) > maxFieldBytes || len(f.Href) > maxFieldBytes {
			f.Errors["rel"] = fmt.Sprintf("Keep the link under %d KiB.", maxFieldBytes>>10)
		}
		if f.Rel == "" && f.Href == "" {
			f.Errors["rel"] = "Give the service's link relation or address."
		}
		l := &csbmsg.Link{Rel: f.Rel, Href: f.Href}
		if f.Kind == "paas" {
			req.PaaS = &csbmsg.PaaS{Link: l}
		} else {
			req.SaaS = &csbmsg.SaaS{Link: l}
		}
	default:
		f.Errors["kind"] = "Choose IaaS, DSaaS, PaaS or SaaS."
	}
	if f.Encryption {
		t := true
		req.Encryption = &t
	}
	f.lease()
	f.checkXML()
	if len(f.Errors) > 0 {
		return nil
	}
	return req
}

// checkXML names the text fields the draft's XML cannot carry: an
// objectID must be an NMTOKEN (no spaces), an href a URI reference, and
// no value may hold a character XML has no place for. The Consumer
// interface refuses such a request at its parser; built from the form,
// it made a job whose answers cannot be serialised. Each field is tried
// on its own with the broker's codec, so the page says which one.
func (f *requestForm) checkXML() {
	one := func(field string, req *csbmsg.ServiceRequest) {
		if f.Errors[field] != "" {
			return
		}
		if _, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req}); err != nil {
			msg := err.Error()
			if i := strings.Index(msg, ">: "); i >= 0 {
				msg = msg[i+3:]
			}
			f.Errors[field] = "The broker cannot send this value: " + msg + "."
		}
	}
	data := func(o csbmsg.DataObject) *csbmsg.ServiceRequest {
		return &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}, DataObject: &o}}
	}
	switch f.Kind {
	case "dsaas":
		if f.Container != "" {
			one("container", &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: &f.Container}}}})
		}
		if f.Object != "" {
			one("object", data(csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: &f.Object}}))
		}
		if f.Mimetype != "" {
			one("mimetype", data(csbmsg.DataObject{Mimetype: &f.Mimetype}))
		}
		if f.Content != "" {
			one("content", data(csbmsg.DataObject{Value: &f.Content}))
		}
	case "paas", "saas":
		if f.Rel != "" {
			one("rel", &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: f.Rel}}})
		}
		if f.Href != "" {
			one("href", &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "x", Href: f.Href}}})
		}
	}
}

// lease returns the lease asked for (zero: the broker's default).
func (f *requestForm) lease() time.Duration {
	if f.Lease == "" {
		return 0
	}
	n, err := strconv.ParseUint(f.Lease, 10, 32)
	if err != nil || n == 0 {
		f.Errors["lease"] = "Enter a whole number of minutes, or nothing for the broker's default."
		return 0
	}
	return time.Duration(n) * time.Minute
}

// XML is the draft's <csbconsumer> message the form builds, for the
// page to show what is sent.
func xmlOf(req *csbmsg.ServiceRequest) string {
	data, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req})
	if err != nil {
		return ""
	}
	return string(data)
}
