package cdmi

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func (a *Adapter) check(op string, want *csbmsg.DSaaS) error {
	if want == nil {
		return unsupported(op, "the cdmi adapter provisions DSaaS only")
	}
	if want.DataObject == nil && want.ContainerObject == nil && want.DomainObject == nil && want.QueueObject == nil && want.CapabilityObject == nil {
		return unsupported(op, "the DSaaS request names no object")
	}
	// The names the objects get in the job's container (places): an
	// NMTOKEN, so no slash or escape, but not a dot-segment either, which
	// would name the container itself or its parent (<job>/.. is the
	// CDMI root to any server or proxy that resolves it).
	var names []string
	for _, o := range []struct {
		asked bool
		id    *string
		def   string
	}{
		{want.DataObject != nil, dataObjectID(want), "data"},
		{want.QueueObject != nil, queueObjectID(want), "queue"},
	} {
		if !o.asked {
			continue
		}
		if o.id != nil && (!nmtoken.MatchString(*o.id) || *o.id == "." || *o.id == "..") {
			return unsupported(op, "object name %q is not an NMTOKEN naming an object in the job's container", *o.id)
		}
		names = append(names, cmp.Or(deref(o.id), o.def))
	}
	if len(names) == 2 && names[0] == names[1] {
		return unsupported(op, "the data and queue objects would both be %q", names[0])
	}
	if want.CapabilityObject != nil && want.CapabilityObject.Type != nil {
		if _, ok := CapabilityPaths[*want.CapabilityObject.Type]; !ok {
			return unsupported(op, "unknown capability object type %q", *want.CapabilityObject.Type)
		}
	}
	return nil
}

func dataObjectID(want *csbmsg.DSaaS) *string {
	if want.DataObject == nil {
		return nil
	}
	return want.DataObject.ObjectID
}

func queueObjectID(want *csbmsg.DSaaS) *string {
	if want.QueueObject == nil {
		return nil
	}
	return want.QueueObject.ObjectID
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Provision creates the job's container, data object, queue object and
// domain, and reads the requested capability object. The container and
// the domain are named after the job, so Find can gather them after a
// crash.
func (a *Adapter) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	const op = "provision"
	want := req.Want.DSaaS
	if err := a.check(op, want); err != nil {
		return nil, err
	}
	res := &contract.Resource{State: contract.StatePending, Native: map[string]string{}, Endpoint: a.cfg.Endpoint}
	partial := func(err error) (*contract.Resource, error) {
		if len(res.Native) > 0 {
			return res, err
		}
		return nil, err
	}
	at := a.places(want, req.JobID)
	create := func(key, what, ct string, body *object) error {
		_, err := a.put(ctx, op+": create "+what, at[key], ct, body)
		if err == nil || mayHaveCreated(err) {
			// Recorded even when the answer failed, if the provider may
			// have carried the PUT out: the broker then removes it, and
			// Remove of an object that was never made is done.
			res.Native[key] = at[key]
		}
		return err
	}
	if at[keyContainer] != "" {
		var meta *string
		if want.ContainerObject != nil {
			meta = want.ContainerObject.Metadata
		}
		if err := create(keyContainer, "container", TypeContainer, &object{Metadata: metadataOut(meta)}); err != nil {
			return partial(err)
		}
	}
	if d := want.DataObject; d != nil {
		body := &object{Metadata: metadataOut(d.Metadata), Mimetype: "text/plain", ValueEncoding: "utf-8", Value: d.Value}
		if d.Mimetype != nil {
			body.Mimetype = *d.Mimetype
		}
		if body.Value == nil {
			body.Value = new(string)
		}
		if err := create(keyData, "data object", TypeObject, body); err != nil {
			return partial(err)
		}
	}
	if q := want.QueueObject; q != nil {
		if err := create(keyQueue, "queue", TypeQueue, &object{Metadata: metadataOut(q.Metadata)}); err != nil {
			return partial(err)
		}
	}
	if d := want.DomainObject; d != nil {
		if err := create(keyDomain, "domain", TypeDomain, &object{Metadata: domainMeta(d)}); err != nil {
			return partial(err)
		}
	}
	if at[keyCap] != "" {
		res.Native[keyCap] = at[keyCap]
	}
	res.URI = cmp.Or(res.Native[keyContainer], res.Native[keyDomain], res.Native[keyCap])
	out, err := a.Status(ctx, res)
	if err != nil {
		if res.Native[keyCap] != "" && len(res.Native) == 1 {
			return nil, err // nothing was created
		}
		return res, nil // created; the broker polls
	}
	return out, nil
}

// mayHaveCreated reports whether a PUT (a create, or an update's change)
// that failed with err may still have been carried out: its answer was
// lost (a transport error, a timeout), was a 5xx (a proxy's, or a backend
// that failed after the write), or was a 2xx the adapter could not read.
// A 4xx refusal changed nothing.
func mayHaveCreated(err error) bool {
	var ae *contract.Error
	if !errors.As(err, &ae) {
		return true
	}
	return ae.Status == 0 || ae.Status < 300 || ae.Status >= 500
}

// places returns where Provision puts each object a request asks for,
// by Native key: the job's container <prefix><job-id>/ with the data and
// queue objects in it, the domain cdmi_domains/<prefix><job-id>/, and
// the capability object read (not created).
func (a *Adapter) places(want *csbmsg.DSaaS, jobID string) map[string]string {
	job := a.cfg.Prefix + jobID
	at := map[string]string{}
	if want.ContainerObject != nil || want.DataObject != nil || want.QueueObject != nil {
		at[keyContainer] = a.url(job + "/")
	}
	if d := want.DataObject; d != nil {
		at[keyData] = a.url(job + "/" + cmp.Or(deref(d.ObjectID), "data"))
	}
	if q := want.QueueObject; q != nil {
		at[keyQueue] = a.url(job + "/" + cmp.Or(deref(q.ObjectID), "queue"))
	}
	if want.DomainObject != nil {
		at[keyDomain] = a.url("cdmi_domains/" + job + "/")
	}
	if c := want.CapabilityObject; c != nil {
		path := CapabilityPaths[csbmsg.CapSystemWide]
		if c.Type != nil {
			path = CapabilityPaths[*c.Type]
		}
		at[keyCap] = a.url(path)
	}
	return at
}

func domainMeta(d *csbmsg.DomainObject) map[string]any {
	m := metadataOut(d.Metadata)
	if d.Enabled != nil {
		m["cdmi_domain_enabled"] = fmt.Sprint(*d.Enabled)
	}
	return m
}
