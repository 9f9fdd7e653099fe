package openstack

import (
	"context"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Find gathers what Provision created for a job from the job id alone,
// for the broker's reconciliation of a crash between Provision's calls and
// its recording of their answer:
//
//   - IaaS: the Nova server with the job's name whose csb-job metadata is
//     the job id, made by this provider (csb-provider, see jobServers);
//   - DSaaS: the job's container when its csb-job metadata is the job id
//     (or, untagged, when the adapter named it after the job: adapters
//     before the tag went on with the container PUT tagged it after
//     creating it, and a crash could come in between), with the job's
//     object.
//
// A container without the object the request asks for, or without its
// metadata, is marked incomplete: Status reports it failed, and the
// broker removes it rather than hand half a job to the consumer.
func (a *Adapter) Find(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	m, err := model.Of("find", "openstack", "IaaS (Nova) and DSaaS (Swift)", req.Want)
	if err != nil {
		return nil, nil // Provision creates nothing for such a request
	}
	return a.Router.Find(ctx, m, req)
}

func (a *Adapter) findServer(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	x := req.Want.IaaS
	if !a.cfg.Keystone() {
		return nil, nil // without Nova nothing was created
	}
	sc, err := a.s.computeClient(ctx)
	if err != nil {
		return nil, err
	}
	list, err := jobServers(ctx, sc, a.serverName(req), req.JobID, req.ProviderID)
	if err != nil {
		return nil, err
	}
	for _, srv := range list {
		fid, _ := srv.Flavor["id"].(string)
		f, err := a.getFlavor(ctx, sc, fid)
		if err != nil {
			return nil, err
		}
		image, _ := srv.Image["id"].(string)
		return serverResource(sc, x, srv.ID, f, image, srv.Name), nil
	}
	return nil, nil
}

func (a *Adapter) findStorage(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	d := req.Want.DSaaS
	if objstore.Unsupported(d, "Swift") != nil {
		return nil, nil
	}
	cname, err := a.containerName(d, req.JobID)
	if err != nil {
		return nil, nil
	}
	sc, err := a.s.objectClient(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := statContainer(ctx, sc, cname)
	switch {
	case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		return nil, nil
	case err != nil:
		return nil, nativeErr("head container", err)
	}
	tag := ch.Get("X-Container-Meta-" + jobTag)
	if tag != req.JobID && (tag != "" || cname != a.cfg.NamePrefix+req.JobID) {
		return nil, nil // someone else's container of the same name
	}
	res := storageResource(sc, cname)
	res.State, res.Granted = contract.StatePending, csbmsg.ServiceRequest{DSaaS: d}
	complete := tag == req.JobID
	if d.ContainerObject != nil {
		want, _ := containerMeta(d.ContainerObject.Metadata)
		have := userMeta(ch)
		for k, v := range want {
			complete = complete && have[k] == v
		}
	}
	if d.DataObject != nil {
		oname := objstore.ObjectName(d.DataObject)
		switch err := objects.Get(ctx, sc, cname, oname, nil).Err; {
		case err == nil:
			res.Native[nativeObject] = oname
			res.URI = objectURL(sc, cname, oname)
		case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			complete = false
		default:
			return nil, nativeErr("head object", err)
		}
	}
	if !complete {
		model.Incomplete(res)
	}
	return res, nil
}

var _ contract.Finder = (*Adapter)(nil)
