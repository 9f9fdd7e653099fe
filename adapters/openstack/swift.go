package openstack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/caddy-csb/caddy-csb/adapters/internal/dsmeta"
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// jobTag is the container metadata item (X-Container-Meta-Csb-Job) that
// names the job that created a container, so Find can tell the job's
// container from someone else's of the same name. It is the broker's:
// grants leave it out, requests may not set it, and metadata updates keep
// it.
const jobTag = "csb-job"

// containerMeta reads the container <metadata> of a request.
func containerMeta(s *string) (map[string]string, error) {
	m, err := objstore.Metadata("container metadata", s)
	if _, reserved := m[jobTag]; reserved && err == nil {
		err = contract.Errorf(contract.KindUnsupported, "container metadata", "metadata key %q is the broker's", jobTag)
	}
	return m, err
}

// fitContainerMeta refuses container metadata m that Swift would refuse
// as too large once the job's tag (job) is added to it.
func fitContainerMeta(m map[string]string, job string) error {
	tagged := map[string]string{jobTag: job}
	maps.Copy(tagged, m)
	return objstore.FitMetadata("container metadata", tagged, objstore.SwiftMetadataLimit)
}

// userMeta is a container's user metadata: its X-Container-Meta-* items
// without the broker's job tag.
func userMeta(h http.Header) map[string]string {
	m := dsmeta.FromHeaders(h, "X-Container-Meta-")
	delete(m, jobTag)
	return m
}

// containerName returns the container a DSaaS request uses: the
// ContainerObject's <objectID>, else the last segment of the DataObject's
// <parentURI>, else prefix + job id.
func (a *Adapter) containerName(d *csbmsg.DSaaS, jobID string) (string, error) {
	name := objstore.ContainerName(d)
	if name == "" {
		name = a.cfg.NamePrefix + jobID
	}
	if err := checkContainerName(name); err != nil {
		return "", err
	}
	return name, nil
}

func checkContainerName(name string) error {
	if name == "" || len(name) > 256 || strings.Contains(name, "/") || !utf8.ValidString(name) || name == "." || name == ".." {
		return &contract.Error{Kind: contract.KindClient, Op: "container", Err: fmt.Errorf("container name %q: want 1 to 256 bytes of UTF-8 without '/'", name)}
	}
	return nil
}

func checkObjectName(name string) error {
	if name == "" || len(name) > 1024 || !utf8.ValidString(name) || strings.HasPrefix(name, "/") {
		return &contract.Error{Kind: contract.KindClient, Op: "object", Err: fmt.Errorf("object name %q: want 1 to 1024 bytes of UTF-8 not starting with '/'", name)}
	}
	return nil
}

func containerURL(sc *gophercloud.ServiceClient, c string) string {
	return sc.ServiceURL(objstore.EscapePath(c))
}

func objectURL(sc *gophercloud.ServiceClient, c, o string) string {
	return sc.ServiceURL(objstore.EscapePath(c), objstore.EscapePath(o))
}

// statContainer reads a container's headers. It GETs an empty listing
// (limit=0) rather than sending HEAD: Swift 2.30 on eventlet 0.33 answers
// HEAD on containers and accounts with a chunked 204 that carries a body,
// which HTTP clients then drop with the connection.
func statContainer(ctx context.Context, sc *gophercloud.ServiceClient, c string) (http.Header, error) {
	return statURL(ctx, sc, containerURL(sc, c))
}

// statAccount reads the account's headers (see statContainer).
func statAccount(ctx context.Context, sc *gophercloud.ServiceClient) (http.Header, error) {
	return statURL(ctx, sc, strings.TrimRight(sc.Endpoint, "/"))
}

func statURL(ctx context.Context, sc *gophercloud.ServiceClient, u string) (http.Header, error) {
	resp, err := sc.Request(ctx, http.MethodGet, u+"?limit=0&format=json", &gophercloud.RequestOpts{OkCodes: []int{200, 204}})
	if err != nil {
		return nil, err
	}
	return resp.Header, nil
}

func (a *Adapter) provisionStorage(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	d := req.Want.DSaaS
	if err := objstore.Unsupported(d, "Swift"); err != nil {
		return nil, err
	}
	cname, err := a.containerName(d, req.JobID)
	if err != nil {
		return nil, err
	}
	if err := objstore.OtherParent("provision", d, cname); err != nil {
		return nil, err
	}
	var cmeta, ometa map[string]string
	if d.ContainerObject != nil {
		if cmeta, err = containerMeta(d.ContainerObject.Metadata); err != nil {
			return nil, err
		}
		if err := fitContainerMeta(cmeta, req.JobID); err != nil {
			return nil, err
		}
	}
	if d.DataObject != nil {
		if err := checkObjectName(objstore.ObjectName(d.DataObject)); err != nil {
			return nil, err
		}
		if ometa, err = objstore.Metadata("object metadata", d.DataObject.Metadata); err != nil {
			return nil, err
		}
		if err := objstore.FitMetadata("object metadata", ometa, objstore.SwiftMetadataLimit); err != nil {
			return nil, err
		}
	}
	sc, err := a.s.objectClient(ctx)
	if err != nil {
		return nil, err
	}
	// The container must be new: the job owns it and everything in it,
	// and the transparent proxy exposes it to the job's owner. A
	// container that exists belongs to someone else.
	if _, err := statContainer(ctx, sc, cname); err == nil {
		return nil, &contract.Error{Kind: contract.KindClient, Op: "create container", Status: http.StatusConflict, Err: fmt.Errorf("container %q already exists", cname)}
	} else if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, nativeErr("head container", err)
	}
	// The job tag goes on with the PUT that makes the container, so
	// that a container made by a PUT whose answer was lost is known as
	// the job's (by a retried PUT here, by Remove of the Resource
	// returned below, by Find after a crash). Only the tag: a PUT that
	// finds the container existing (202) sets its metadata too, and the
	// user metadata goes on once the container is known to be the job's.
	pctx, retried := noteRetries(ctx)
	resp, err := sc.Request(pctx, http.MethodPut, containerURL(sc, cname), &gophercloud.RequestOpts{
		OkCodes:     []int{201, 202},
		MoreHeaders: map[string]string{"X-Container-Meta-" + jobTag: req.JobID},
	})
	if err != nil {
		if st := statusOf(err); st >= 400 && st < 500 {
			return nil, nativeErr("create container", err) // Swift refused it: nothing was made
		}
		// No answer, or a failed one: Swift may have made the container
		// all the same. The Resource names it with the job, so that
		// Remove deletes it only when it carries the job's tag.
		lost := storageResource(sc, cname)
		lost.Native[nativeJob] = req.JobID
		return lost, nativeErr("create container", err)
	}
	if resp.StatusCode == http.StatusAccepted && !retried.Load() && cname != a.cfg.NamePrefix+req.JobID {
		// Swift answers 202 when the container already existed, and
		// this PUT was the first: someone created it between the
		// look-up and the PUT. Take the job's tag off it again. After a
		// retried PUT the 202 answers the adapter's own earlier PUT,
		// whose answer was lost after Swift had made the container; and
		// a container named after the job (which Find claims too) is
		// the job's.
		err := fmt.Errorf("container %q already exists", cname)
		if uerr := containers.Update(ctx, sc, cname, containers.UpdateOpts{RemoveMetadata: []string{jobTag}}).Err; uerr != nil {
			err = fmt.Errorf("%w (taking the job's tag off it again failed: %v)", err, nativeErr("set container metadata", uerr))
		}
		return nil, &contract.Error{Kind: contract.KindClient, Op: "create container", Status: http.StatusConflict, Err: err}
	}
	res := storageResource(sc, cname)
	// From here on, a failure leaves the container behind: return the
	// resource with the error so the broker removes it.
	tagged := map[string]string{jobTag: req.JobID}
	maps.Copy(tagged, cmeta)
	if err := containers.Update(ctx, sc, cname, containers.UpdateOpts{Metadata: tagged}).Err; err != nil {
		return res, nativeErr("set container metadata", err)
	}
	if d.DataObject != nil {
		oname := objstore.ObjectName(d.DataObject)
		res.Native[nativeObject] = oname
		if err := a.putObject(ctx, sc, cname, oname, d.DataObject, ometa); err != nil {
			return res, err
		}
		res.URI = objectURL(sc, cname, oname)
	}
	out, err := a.storageStatus(ctx, res, d)
	if err != nil {
		return res, err // created: the broker removes it
	}
	return out, nil
}

func (a *Adapter) putObject(ctx context.Context, sc *gophercloud.ServiceClient, c, o string, d *csbmsg.DataObject, meta map[string]string) error {
	value, mt := objstore.Content(d)
	// A strings.Reader is seekable: gophercloud computes the ETag from it
	// (Swift checks it) and a retried PUT rewinds it.
	err := objects.Create(ctx, sc, c, o, objects.CreateOpts{
		Content:     strings.NewReader(value),
		ContentType: mt,
		Metadata:    meta,
	}).Err
	return nativeErr("put object", err)
}

// storageStatus reads back the container, the object and, if asked, the
// account and the cluster's capabilities. want is the DSaaS request whose
// elements the grant answers.
func (a *Adapter) storageStatus(ctx context.Context, res *contract.Resource, want *csbmsg.DSaaS) (*contract.Resource, error) {
	sc, err := a.s.objectClient(ctx)
	if err != nil {
		return nil, err
	}
	cname := res.Native[nativeContainer]
	ch, err := statContainer(ctx, sc, cname)
	if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, nativeErr("head container", err)
	}
	out := objstore.Stated(res, err == nil)
	if out.State == contract.StateGone {
		return out, nil
	}
	g := &csbmsg.DSaaS{}
	count := ch.Get("X-Container-Object-Count")
	cu := containerURL(sc, cname)
	acct := strings.TrimRight(sc.Endpoint, "/")
	g.ContainerObject = &csbmsg.ContainerObject{
		ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &cu, ObjectID: &cname, ParentURI: &acct},
		Status:     ptr(objstore.Available),
	}
	if m := dsmeta.Format(userMeta(ch)); m != "" {
		g.ContainerObject.Metadata = &m
	}
	if count != "" {
		g.ContainerObject.Children = &count
	}
	if oname := res.Native[nativeObject]; oname != "" {
		oh := objects.Get(ctx, sc, cname, oname, nil)
		if oh.Err != nil && !gophercloud.ResponseCodeIs(oh.Err, http.StatusNotFound) {
			return nil, nativeErr("head object", oh.Err)
		}
		var head *objstore.Head
		if oh.Err == nil {
			head = &objstore.Head{Meta: dsmeta.FromHeaders(oh.Header, "X-Object-Meta-")}
			if ct := oh.Header.Get("Content-Type"); ct != "" {
				head.Mimetype = &ct
			}
		}
		g.DataObject = objstore.DataObject(objectURL(sc, cname, oname), oname, cu, head)
	}
	if want != nil && want.DomainObject != nil {
		ah, err := statAccount(ctx, sc)
		if err != nil {
			return nil, nativeErr("head account", err)
		}
		meta := dsmeta.FromHeaders(ah, "X-Account-Meta-")
		for _, h := range []string{"Bytes-Used", "Object-Count", "Container-Count"} {
			if v := ah.Get("X-Account-" + h); v != "" {
				meta["swift-"+strings.ToLower(h)] = v
			}
		}
		acctName := acct[strings.LastIndex(acct, "/")+1:]
		dobj := &csbmsg.DomainObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &acct}, Enabled: ptr(true)}
		if id := model.NMToken(acctName); id != nil {
			dobj.ObjectID = id
		}
		if m := dsmeta.Format(meta); m != "" {
			dobj.Metadata = &m
		}
		if v := ah.Get("X-Account-Container-Count"); v != "" {
			dobj.Children = &v
		}
		g.DomainObject = dobj
	}
	if want != nil && want.CapabilityObject != nil {
		info, err := infoURL(acct)
		if err == nil {
			t := csbmsg.CapContainer
			if want.CapabilityObject.Type != nil {
				t = *want.CapabilityObject.Type
			}
			g.CapabilityObject = &csbmsg.CapabilityObject{Type: &t, ObjectRefs: csbmsg.ObjectRefs{ObjectURI: &info}, Status: ptr(objstore.Available)}
		}
	}
	out.Granted = csbmsg.ServiceRequest{DSaaS: g}
	return out, nil
}

// infoURL is Swift's capability-discovery document, /info at the
// proxy's root.
func infoURL(storageURL string) (string, error) {
	u, err := url.Parse(storageURL)
	if err != nil {
		return "", err
	}
	i := strings.Index(u.Path, "/v1/")
	if i < 0 {
		return "", errors.New("storage url has no /v1/ segment")
	}
	u.Path = u.Path[:i] + "/info"
	u.RawPath = ""
	return u.String(), nil
}

func (a *Adapter) updateStorage(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	d := req.Want.DSaaS // not nil: see model.Route.Update
	if err := objstore.Unsupported(d, "Swift"); err != nil {
		return nil, err
	}
	cname := res.Native[nativeContainer]
	if err := objstore.OtherParent("update", d, cname); err != nil {
		return nil, err
	}
	sc, err := a.s.objectClient(ctx)
	if err != nil {
		return nil, err
	}
	out := res.Clone()
	if d.ContainerObject != nil {
		if d.ContainerObject.ObjectID != nil && *d.ContainerObject.ObjectID != cname {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: errors.New("a Swift container cannot be renamed")}
		}
		if d.ContainerObject.Metadata != nil {
			meta, err := containerMeta(d.ContainerObject.Metadata)
			if err != nil {
				return nil, err
			}
			if err := fitContainerMeta(meta, req.JobID); err != nil {
				return nil, err
			}
			ch, err := statContainer(ctx, sc, cname)
			if err != nil {
				return nil, nativeErr("head container", err)
			}
			var remove []string
			for k := range userMeta(ch) {
				if _, keep := meta[k]; !keep {
					remove = append(remove, k)
				}
			}
			if err := containers.Update(ctx, sc, cname, containers.UpdateOpts{Metadata: meta, RemoveMetadata: remove}).Err; err != nil {
				return nil, nativeErr("set container metadata", err)
			}
		}
	}
	if o := d.DataObject; o != nil {
		oname := objstore.ObjectName(o)
		if cur := res.Native[nativeObject]; cur != "" && o.ObjectID == nil {
			oname = cur
		}
		if err := checkObjectName(oname); err != nil {
			return nil, err
		}
		meta, err := objstore.Metadata("object metadata", o.Metadata)
		if err != nil {
			return nil, err
		}
		if err := objstore.FitMetadata("object metadata", meta, objstore.SwiftMetadataLimit); err != nil {
			return nil, err
		}
		if o.Value != nil || res.Native[nativeObject] != oname {
			// A new value (or a new object): PUT replaces content, type
			// and metadata together.
			if o.Metadata == nil || o.Mimetype == nil {
				// Keep what the update does not name. A HEAD that failed
				// other than with 404 (no such object yet) stops the
				// update: the PUT would drop what it could not read.
				oh := objects.Get(ctx, sc, cname, oname, nil)
				switch {
				case oh.Err == nil:
					if o.Metadata == nil {
						meta = dsmeta.FromHeaders(oh.Header, "X-Object-Meta-")
					}
					if o.Mimetype == nil {
						o = withMimetype(o, oh.Header.Get("Content-Type"))
					}
				case !gophercloud.ResponseCodeIs(oh.Err, http.StatusNotFound):
					return nil, nativeErr("head object", oh.Err)
				}
			}
			if err := a.putObject(ctx, sc, cname, oname, o, meta); err != nil {
				return nil, err
			}
			out.Native[nativeObject] = oname
			out.URI = objectURL(sc, cname, oname)
		} else if o.Metadata != nil || o.Mimetype != nil {
			// POST replaces all user metadata; keep it if not named.
			opts := objects.UpdateOpts{ContentType: o.Mimetype}
			if o.Metadata != nil {
				opts.Metadata = meta
			} else {
				oh := objects.Get(ctx, sc, cname, oname, nil)
				if oh.Err != nil {
					return nil, nativeErr("head object", oh.Err)
				}
				opts.Metadata = dsmeta.FromHeaders(oh.Header, "X-Object-Meta-")
			}
			if err := objects.Update(ctx, sc, cname, oname, opts).Err; err != nil {
				return nil, nativeErr("post object", err)
			}
		}
	}
	return a.storageStatus(ctx, out, d)
}

func withMimetype(o *csbmsg.DataObject, mt string) *csbmsg.DataObject {
	c := *o
	if mt != "" {
		c.Mimetype = &mt
	}
	return &c
}

// storageResource is the Resource of the container cname the job
// created, ready.
func storageResource(sc *gophercloud.ServiceClient, cname string) *contract.Resource {
	acct := strings.TrimRight(sc.Endpoint, "/")
	return &contract.Resource{
		URI:      containerURL(sc, cname),
		State:    contract.StateReady,
		Endpoint: acct,
		Native: map[string]string{
			nativeKind:             kindStorage,
			nativeContainer:        cname,
			nativeContainerCreated: "true",
			nativeStorageURL:       acct,
		},
	}
}

// removeStorage deletes the job's object and, when the job created the
// container, everything in it and the container itself (objstore.Remove).
// The container of a create that went unanswered (nativeJob) is the
// job's only when it carries the job's tag: otherwise the PUT made
// nothing, and a container of that name is someone else's.
func (a *Adapter) removeStorage(ctx context.Context, res *contract.Resource) error {
	n := res.Native
	if job := n[nativeJob]; job != "" {
		sc, err := a.s.objectClient(ctx)
		if err != nil {
			return err
		}
		ch, err := statContainer(ctx, sc, n[nativeContainer])
		switch {
		case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			return nil
		case err != nil:
			return nativeErr("head container", err)
		case ch.Get("X-Container-Meta-"+jobTag) != job:
			return nil
		}
	}
	return objstore.Remove(ctx, n[nativeContainer], n[nativeContainerCreated] == "true", n[nativeObject], func(cname string) (objstore.Container, error) {
		sc, err := a.s.objectClient(ctx)
		return swiftContainer{sc, cname}, err
	})
}

// swiftContainer is a container as objstore.Remove sees it.
type swiftContainer struct {
	sc   *gophercloud.ServiceClient
	name string
}

func (c swiftContainer) DeleteObject(ctx context.Context, name string) error {
	if err := objects.Delete(ctx, c.sc, c.name, name, nil).Err; err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nativeErr("delete object", err)
	}
	return nil
}

// EachObject lists every name first, then calls fn on each.
func (c swiftContainer) EachObject(ctx context.Context, fn func(name string) error) (bool, error) {
	var names []string
	err := objects.List(c.sc, c.name, objects.ListOpts{}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		n, err := objects.ExtractNames(p)
		names = append(names, n...)
		return true, err
	})
	if err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return true, nil
		}
		return false, nativeErr("list objects", err)
	}
	for _, n := range names {
		if err := fn(n); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (c swiftContainer) Delete(ctx context.Context) (bool, error) {
	err := containers.Delete(ctx, c.sc, c.name).Err
	if err == nil || gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return false, nil
	}
	return gophercloud.ResponseCodeIs(err, http.StatusConflict), nativeErr("delete container", err)
}

// discoverStorage describes the object store as one DSaaS service.
func (a *Adapter) discoverStorage(ctx context.Context) (csbmsg.Service, error) {
	sc, err := a.s.objectClient(ctx)
	if err != nil {
		return csbmsg.Service{}, err
	}
	if _, err := statAccount(ctx, sc); err != nil {
		return csbmsg.Service{}, nativeErr("head account", err)
	}
	return objstore.Service("object-store", strings.TrimRight(sc.Endpoint, "/")), nil
}

func ptr[T any](v T) *T { return &v }

// grantedStorageStatus reads a container and object back against what
// was granted.
func (a *Adapter) grantedStorageStatus(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	return a.storageStatus(ctx, res, res.Granted.DSaaS)
}
