// Package openstack is the cloud service adapter for OpenStack: Keystone v3
// (password or application credential) or Swift TempAuth v1.0 for
// identity, Nova for IaaS compute, Swift for DSaaS object storage. It uses
// gophercloud, the maintained OpenStack SDK for Go.
//
// The mapping between the draft's elements and the native fields is the
// table in mapping.go, rendered in README.md.
//
// This package does not import Caddy.
package openstack

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/nativeerr"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Keys of contract.Resource.Native.
const (
	nativeKind             = "kind"              // kindServer or kindStorage
	nativeServerID         = "server_id"         // Nova server id
	nativeJob              = "job"               // job id, on a server or container whose create went unanswered
	nativeServerName       = "server_name"       // its name, for finding it (with nativeJob)
	nativeProvider         = "provider"          // and its provider (csb-provider)
	nativeFlavorID         = "flavor_id"         // Nova flavor id
	nativeImageID          = "image_id"          // Glance image id
	nativeWant             = "want_status"       // Nova status the last call aims for
	nativeFault            = "fault"             // Nova fault message of a server in ERROR
	nativeSnapshot         = "snapshot_image_id" // image of the last snapshot
	nativeStorageURL       = "storage_url"       // Swift account URL
	nativeContainer        = "container"         // Swift container name
	nativeContainerCreated = "container_created" // "true" when the job created the container
	nativeObject           = "object"            // Swift object name
)

const (
	kindServer  = "server"
	kindStorage = "storage"
)

// Adapter speaks OpenStack's native APIs for one provider. It is safe for
// concurrent use.
//
// Status, Update and Remove (of model.Router) go to Nova for a server and
// to Swift for storage: Status reads the server or the container and
// object back; Update resizes a server or applies a compute action, or
// changes a container's metadata or an object's value, type or metadata;
// Remove deletes the server, or the job's objects and container, and
// removing what is already gone succeeds.
type Adapter struct {
	model.Router
	cfg   Config
	s     *session
	clock clock.Clock
}

// New checks cfg, applies its defaults and returns an adapter. It makes no
// network call: the adapter authenticates on first use.
func New(cfg Config) (*Adapter, error) {
	if cfg.Interface == "" {
		cfg.Interface = DefaultInterface
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = DefaultNamePrefix
	}
	cfg.ArchImages = maps.Clone(cfg.ArchImages)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Adapter{cfg: cfg, clock: clock.Real{}}
	// The session reads the adapter's clock, so one a test sets is seen.
	a.s = &session{cfg: &a.cfg, clock: clock.Func(func() time.Time { return a.clock.Now() })}
	a.Router = model.Router{Adapter: "openstack", KindKey: nativeKind, Routes: map[string]model.Route{
		kindServer:  {Model: model.IaaS, What: "an IaaS server", Status: a.serverStatus, Update: a.updateServer, Remove: a.removeServer, Find: a.findServer},
		kindStorage: {Model: model.DSaaS, What: "DSaaS storage", Status: a.grantedStorageStatus, Update: a.updateStorage, Remove: a.removeStorage, Find: a.findStorage},
	}}
	return a, nil
}

// Config returns the adapter's configuration with defaults applied.
func (a *Adapter) Config() Config { return a.cfg }

// SetHTTPClient makes the adapter use c (the provider's TLS trust and
// transport) for every native call. Call it before use; it drops any
// token obtained through the previous client.
func (a *Adapter) SetHTTPClient(c *http.Client) { a.s.setHTTPClient(c) }

// Provision creates a Nova server for an IaaS request, or a Swift
// container (and object) for a DSaaS request.
func (a *Adapter) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	m, err := model.Of("provision", "openstack", "IaaS (Nova) and DSaaS (Swift)", req.Want)
	if err != nil {
		return nil, err
	}
	if m == model.IaaS {
		return a.provisionServer(ctx, req)
	}
	return a.provisionStorage(ctx, req)
}

// Discover lists the provider's offers: one IaaS service per enabled Nova
// flavor and one DSaaS service for the Swift account, for whichever of
// the two the configuration reaches.
func (a *Adapter) Discover(ctx context.Context) ([]csbmsg.Service, error) {
	var out []csbmsg.Service
	var errs []error
	if a.cfg.Keystone() {
		fl, err := a.discoverFlavors(ctx)
		if err != nil && contract.KindOf(err) != contract.KindUnsupported {
			return nil, err
		}
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, fl...)
	}
	st, err := a.discoverStorage(ctx)
	switch {
	case err == nil:
		out = append(out, st)
	case contract.KindOf(err) == contract.KindUnsupported:
		errs = append(errs, err)
	default:
		return nil, err
	}
	if len(out) == 0 {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "discover", Err: errors.Join(errs...)}
	}
	return out, nil
}

func foreign(res *contract.Resource) error { return model.Foreign("openstack", res) }

// nativeErr classifies a failed gophercloud call.
func nativeErr(op string, err error) error {
	if nativeerr.Settled(err) {
		return err
	}
	var re gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &re) {
		return authError(op, re.ErrReauth)
	}
	return nativeerr.New(op, statusOf(err), err)
}

// Interface guards (Fronter and Finder are guarded in front.go and
// find.go).
var (
	_ contract.Adapter    = (*Adapter)(nil)
	_ contract.Discoverer = (*Adapter)(nil)
)

// ServiceKinds reports the service models the adapter serves
// (contract.KindReporter): IaaS (Nova) and DSaaS (Swift) with Keystone,
// DSaaS only with TempAuth.
func (a *Adapter) ServiceKinds() []string {
	if a.cfg.Keystone() {
		return []string{"IaaS", "DSaaS"}
	}
	return []string{"DSaaS"}
}

var _ contract.KindReporter = (*Adapter)(nil)
