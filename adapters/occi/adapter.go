// Package occi is the cloud service adapter for providers that speak the
// Open Cloud Computing Interface (OGF OCCI 1.1: GFD.183 Core, GFD.184
// Infrastructure, GFD.185 HTTP Rendering; and the compatible parts of OCCI
// 1.2: GFD.221, GFD.224, GFD.223 HTTP Protocol, GFD.229 Text Rendering).
//
// It speaks the HTTP text rendering, text/plain (rendering in the body) or
// text/occi (rendering in headers), discovers the server's kinds, mixins
// and actions through the query interface /-/ (also reading the JSON
// rendering for template sizes), and maps the draft's IaaS elements to the
// compute, storage and network kinds and the networkinterface and
// storagelink links. The mapping lives in mapping.go and is documented in
// README.md.
//
// This package does not import Caddy.
package occi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Config configures an Adapter.
type Config struct {
	// Endpoint is the OCCI server's base URL, e.g. https://occi.example.org/.
	// Required.
	Endpoint string
	// Rendering is the request and preferred answer rendering: text/plain
	// (default) or text/occi.
	Rendering string
	// OSTemplate is the identifier (scheme followed by term) of an os_tpl
	// mixin added to every compute created. Default none.
	OSTemplate string
	// Network is the location of an existing network that network
	// interfaces attach to. When set, the adapter does not create (nor
	// delete) networks. Default: create one per job when asked.
	Network string
	// NoStart leaves created computes as the server made them. By default
	// an inactive new compute is started, unless the request asks for it
	// inactive.
	NoStart bool
	// Offer bounds the service Discover publishes for the provider's
	// kinds; OCCI has no way to say how big a machine may be.
	Offer Offer
	// ServiceID is the Cloud-Service-id Discover gives the provider's
	// kinds. Default "occi".
	ServiceID string
	// MaxRetries is how many times an idempotent request (GET, PUT,
	// DELETE) is repeated after a transport error or a 502/503/504.
	// Default 2; negative means none.
	MaxRetries int
	// RetryBackoff is the wait before the first retry, growing linearly.
	// Default 200ms; negative means none.
	RetryBackoff time.Duration
	// ModelTTL is how long a discovered model is reused before /-/ is read
	// again. Default 10 minutes.
	ModelTTL time.Duration
	// Client is the HTTP client (TLS trust, authentication). Default: a
	// client of its own with connection reuse.
	Client *http.Client
}

// Offer is what Discover advertises for the provider's plain kinds.
// Zero fields are left out of the service.
type Offer struct {
	Architecture string
	Cores        uint64
	Memory       uint64 // GB
	Speed        uint64 // GHz
	Storage      uint64 // GB
}

// Adapter is the OCCI adapter. It is safe for concurrent use.
type Adapter struct {
	contract.BrokerAuth
	cfg    Config
	base   *url.URL
	client *http.Client
	clock  clock.Clock

	mu      sync.Mutex
	model   *Model
	modelAt time.Time
}

var defaultClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

// New returns an adapter for cfg.
func New(cfg Config) (*Adapter, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("occi: endpoint is required")
	}
	u, ok := httpx.ParseHTTPURL(cfg.Endpoint)
	if !ok {
		return nil, fmt.Errorf("occi: endpoint %q is not an http(s) URL", peerurl.RedactString(cfg.Endpoint))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	switch cfg.Rendering {
	case "":
		cfg.Rendering = MediaTextPlain
	case MediaTextPlain, MediaTextOCCI:
	default:
		return nil, fmt.Errorf("occi: rendering %q is neither text/plain nor text/occi", cfg.Rendering)
	}
	if cfg.OSTemplate != "" && !strings.Contains(cfg.OSTemplate, "#") {
		return nil, fmt.Errorf("occi: os_tpl %q is not a category identifier (scheme#term)", cfg.OSTemplate)
	}
	if cfg.ServiceID == "" {
		cfg.ServiceID = "occi"
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 2
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	switch {
	case cfg.RetryBackoff == 0:
		cfg.RetryBackoff = 200 * time.Millisecond
	case cfg.RetryBackoff < 0:
		cfg.RetryBackoff = 0
	}
	if cfg.ModelTTL <= 0 {
		cfg.ModelTTL = 10 * time.Minute
	}
	a := &Adapter{cfg: cfg, base: u, client: cfg.Client, clock: clock.Real{}}
	if a.client == nil {
		a.client = defaultClient
	}
	return a, nil
}

// SetHTTPClient replaces the HTTP client, e.g. with one that carries the
// provider's TLS trust and credentials.
func (a *Adapter) SetHTTPClient(c *http.Client) {
	if c != nil {
		a.client = c
	}
}

// Native keys of a Resource.
const (
	nativeCompute          = "compute"
	nativeStorage          = "storage"
	nativeNetwork          = "network"
	nativeNetworkShared    = "network_shared"
	nativeNetworkInterface = "networkinterface"
	nativeStorageLink      = "storagelink"
)

// ---------------------------------------------------------------------------
// Provision

// Provision creates what req asks for: storage and network first, then
// the compute, then the links between them, then starts the compute.
func (a *Adapter) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	want := req.Want.IaaS
	if want == nil || (want.Compute == nil && want.Storage == nil && want.Network == nil) {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: errors.New("the occi adapter provisions IaaS compute, storage and network only")}
	}
	if (want.NetworkInterface != nil || want.StorageLink != nil) && want.Compute == nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: errors.New("NetworkInterface and storagelink link a compute; the request has none")}
	}
	if want.StorageLink != nil && want.Storage == nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: errors.New("storagelink needs a storage in the request")}
	}
	if want.NetworkInterface != nil && want.Network == nil && a.cfg.Network == "" {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: errors.New("NetworkInterface needs a network in the request or a configured network")}
	}
	// Convert everything before creating anything, so a request the
	// adapter cannot express leaves nothing behind.
	if err := validate(req.Want.IaaS); err != nil {
		return nil, err
	}
	md, err := a.Model(ctx)
	if err != nil {
		return nil, err
	}
	if a.cfg.Network != "" {
		if err := a.joinable(ctx, "provision", a.cfg.Network, want.Network, nil); err != nil {
			return nil, err
		}
	}
	res := &contract.Resource{State: contract.StatePending, Native: map[string]string{}}
	title := req.JobID
	if want.Storage != nil {
		loc, err := a.createStorage(ctx, md, want.Storage, title)
		if err != nil {
			return partial(uncertain(res, nativeStorage, title, err)), err
		}
		res.Native[nativeStorage] = loc
	}
	if want.Network != nil || want.NetworkInterface != nil {
		if a.cfg.Network != "" {
			u, err := a.resolve(a.cfg.Network)
			if err != nil {
				return partial(res), &contract.Error{Kind: contract.KindClient, Op: "provision", Err: err}
			}
			res.Native[nativeNetwork] = u.String()
			res.Native[nativeNetworkShared] = "true"
		} else {
			loc, err := a.createNetwork(ctx, md, want.Network, title)
			if err != nil {
				return partial(uncertain(res, nativeNetwork, title, err)), err
			}
			res.Native[nativeNetwork] = loc
		}
	}
	if want.Compute != nil {
		loc, err := a.createCompute(ctx, md, want.Compute, req.Service, title)
		if err != nil {
			return partial(uncertain(res, nativeCompute, title, err)), err
		}
		res.Native[nativeCompute] = loc
		if err := networkInterfaceLink.create(ctx, a, md, res.Native, want.NetworkInterface); err != nil {
			return partial(res), err
		}
		if err := storageLinkLink.create(ctx, a, md, res.Native, want.StorageLink); err != nil {
			return partial(res), err
		}
	}
	res.URI = primary(res.Native)
	cur, err := a.Status(ctx, res)
	if err != nil {
		return res, err
	}
	res = cur
	if err := a.applyActions(ctx, md, res, &req.Want, true); err != nil {
		return res, err
	}
	if cur, err = a.Status(ctx, res); err != nil {
		return res, err
	}
	return cur, nil
}

// partial returns res when something was created, so the broker removes
// it, and nil otherwise.
func partial(res *contract.Resource) *contract.Resource {
	if len(res.Native) == 0 {
		return nil
	}
	res.URI = primary(res.Native)
	res.State = contract.StateFailed
	return res
}

// uncertain records in res that the create of the entity at key failed
// in a way that may have left it at the provider: its answer was lost
// (a transport error, a timeout), a 5xx, or a 2xx naming no location or
// not readable. Its location is unknown, so the job's title is recorded
// (key + titleSuffix): Remove finds the entity by it and deletes it.
func uncertain(res *contract.Resource, key, title string, err error) *contract.Resource {
	if title == "" || !mayHaveHappened(err) {
		return res
	}
	res.Native[key+titleSuffix] = title
	return res
}

// mayHaveHappened reports whether a request that failed with err may
// have been carried out by the server all the same: its answer was lost
// (a transport error, a timeout), was a 5xx, or was a 2xx the adapter
// could not use. A 3xx or 4xx refused it, and a failure before any
// request (a mixin or kind the server lacks) sent nothing.
func mayHaveHappened(err error) bool {
	var ae *contract.Error
	if !errors.As(err, &ae) {
		return true
	}
	if ae.Status >= 300 && ae.Status < 500 {
		return false
	}
	return ae.Status != 0 || ae.Kind == contract.KindTimeout || ae.Kind == contract.KindTransport
}

// titleSuffix marks the Native key of an entity whose create may have
// succeeded unseen: its value is the title the entity was created with.
const titleSuffix = "_title"

func primary(n map[string]string) string {
	for _, k := range []string{nativeCompute, nativeStorage, nativeNetwork} {
		if n[k] != "" && !(k == nativeNetwork && n[nativeNetworkShared] != "") {
			return n[k]
		}
	}
	return ""
}

// validate converts the whole request once, so unsupported values are
// refused before anything is created.
func validate(ia *csbmsg.IaaS) error {
	check := func(err error) error {
		if err != nil {
			return &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: err}
		}
		return nil
	}
	if _, _, err := toOCCI(computeRows, ia.Compute, nil); err != nil {
		return check(fmt.Errorf("compute %w", err))
	}
	if _, _, err := toOCCI(storageRows, ia.Storage, nil); err != nil {
		return check(fmt.Errorf("storage %w", err))
	}
	if _, _, err := toOCCI(networkRows, ia.Network, nil); err != nil {
		return check(fmt.Errorf("network %w", err))
	}
	if _, _, err := toOCCI(networkInterfaceRows, ia.NetworkInterface, nil); err != nil {
		return check(fmt.Errorf("NetworkInterface %w", err))
	}
	if _, _, err := toOCCI(storageLinkRows, ia.StorageLink, nil); err != nil {
		return check(fmt.Errorf("storagelink %w", err))
	}
	return nil
}

// joinable refuses what a request asks of a configured shared network
// beyond joining it: attribute values the network does not have (have,
// read from loc when nil), a status change or an action. The network is
// the provider's, not the job's: the adapter neither changes nor
// switches it, and a request that asks it to would otherwise be answered
// as done.
func (a *Adapter) joinable(ctx context.Context, op, loc string, want, have *csbmsg.Network) error {
	if want == nil {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return &contract.Error{Kind: contract.KindUnsupported, Op: op, Err: fmt.Errorf("the job joins the configured network %s as it is: "+format, append([]any{loc}, args...)...)}
	}
	if want.Action != nil {
		return refuse("network action %q is not the job's to take", *want.Action)
	}
	attrs, _, err := toOCCI(networkRows, want, nil)
	if err != nil {
		return &contract.Error{Kind: contract.KindUnsupported, Op: op, Err: fmt.Errorf("network %w", err)}
	}
	if attrs.Len() == 0 && (want.Status == nil || *want.Status == csbmsg.NetworkActive) && have == nil {
		return nil // joining asks nothing of the network but to be there
	}
	if have == nil {
		r, err := a.do(ctx, op+": read network", http.MethodGet, loc, nil, "")
		if err != nil {
			return err
		}
		have = grantedOf(networkRows, r.msg)
	}
	if want.Status != nil {
		cur := csbmsg.NetworkActive // a network rendered without a state is taken as up
		if have.Status != nil {
			cur = *have.Status
		}
		if *want.Status != cur {
			return refuse("it is %s, not %s", cur, *want.Status)
		}
	}
	diff, _, _ := changed(networkRows, want, have)
	if names := diff.Names(); len(names) > 0 {
		return refuse("its %s differ from the request's", strings.Join(names, ", "))
	}
	return nil
}

// kindCategory returns the kind as an entity's category, and its
// collection location.
func kindOf(md *Model, id string) (Category, string, error) {
	k, ok := md.Kind(id)
	if !ok {
		return Category{}, "", &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: fmt.Errorf("the server has no kind %s", id)}
	}
	loc := k.Location
	if loc == "" {
		loc = defaultLocations[id]
	}
	return Category{Term: k.Term, Scheme: k.Scheme, Class: ClassKind}, loc, nil
}

// mixinRef returns a mixin as an entity's category. Mixins the model does
// not list are refused; the ip mixins are tolerated when the server
// declares their attributes on the kind itself (as OpenNebula's rOCCI
// does for networkinterface).
func mixinRef(md *Model, id string) (Category, bool) {
	m, ok := md.Mixin(id)
	if !ok {
		return Category{}, false
	}
	return Category{Term: m.Term, Scheme: m.Scheme, Class: ClassMixin}, true
}

func (a *Adapter) withMixins(md *Model, msg *Message, kindID string, mixins []string) error {
	k, _ := md.Kind(kindID)
	for _, id := range mixins {
		if c, ok := mixinRef(md, id); ok {
			msg.Categories = append(msg.Categories, c)
			continue
		}
		// No such mixin: fine if the kind itself declares the attributes.
		declared := false
		for _, d := range k.Attributes {
			for _, name := range msg.Attributes.Names() {
				if d.Name == name && strings.HasPrefix(name, "occi.network") {
					declared = true
				}
			}
		}
		if !declared {
			return &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: fmt.Errorf("the server has no mixin %s", id)}
		}
	}
	return nil
}

func (a *Adapter) create(ctx context.Context, op, loc string, msg *Message) (string, error) {
	r, err := a.do(ctx, op, http.MethodPost, loc, msg, "")
	if err != nil {
		return "", err
	}
	l := r.location()
	if l == "" {
		return "", &contract.Error{Kind: contract.KindServer, Op: op, Status: r.status, Err: errors.New("the server named no location for the created entity")}
	}
	return l, nil
}

func (a *Adapter) createCompute(ctx context.Context, md *Model, c *csbmsg.Compute, svc csbmsg.Service, title string) (string, error) {
	var extra []Category
	var fixed func(string) bool
	// A service discovered from a resource template: ask for the template,
	// and leave out the attributes it fixes.
	if svc.URI != "" && strings.HasPrefix(svc.ID, "tpl-") {
		if t, ok := md.Mixin(svc.URI); ok {
			extra = append(extra, Category{Term: t.Term, Scheme: t.Scheme, Class: ClassMixin})
			fixed = func(attr string) bool {
				d, ok := t.Attr(attr)
				return ok && d.Default != nil
			}
		}
	}
	if a.cfg.OSTemplate != "" {
		scheme, term, _ := strings.Cut(a.cfg.OSTemplate, "#")
		extra = append(extra, Category{Term: term, Scheme: scheme + "#", Class: ClassMixin})
	}
	return createEntity(ctx, a, md, KindCompute, computeRows, c, newEntity{core: titled(title), extra: extra, fixed: fixed})
}

func (a *Adapter) createStorage(ctx context.Context, md *Model, s *csbmsg.Storage, title string) (string, error) {
	return createEntity(ctx, a, md, KindStorage, storageRows, s, newEntity{core: titled(title)})
}

func (a *Adapter) createNetwork(ctx context.Context, md *Model, n *csbmsg.Network, title string) (string, error) {
	return createEntity(ctx, a, md, KindNetwork, networkRows, n, newEntity{core: titled(title)})
}

// linkKind is one of the links from a job's compute: its kind, its
// Native key, the Native key of its target, its attribute rows and its
// state attribute.
type linkKind[E any] struct {
	kindID, key, target string
	rows                []row[E]
	stateAttr           string
}

var (
	networkInterfaceLink = linkKind[csbmsg.NetworkInterface]{KindNetworkInterface, nativeNetworkInterface, nativeNetwork, networkInterfaceRows, "occi.networkinterface.state"}
	storageLinkLink      = linkKind[csbmsg.StorageLink]{KindStorageLink, nativeStorageLink, nativeStorage, storageLinkRows, "occi.storagelink.state"}
)

// create links the compute n holds to the link's target when n holds
// one, with e's attributes (e may be nil), and records the link in n.
func (l linkKind[E]) create(ctx context.Context, a *Adapter, md *Model, n map[string]string, e *E) error {
	if n[l.target] == "" {
		return nil
	}
	loc, err := createEntity(ctx, a, md, l.kindID, l.rows, e, newEntity{core: a.linking(n[nativeCompute], n[l.target])})
	if err != nil {
		return err
	}
	n[l.key] = loc
	return nil
}

// newEntity is what a new entity carries besides its element's
// attributes: core attributes (a title, or a link's source and target),
// categories after its kind (a resource or OS template), and the
// attributes a template fixes, which are left out.
type newEntity struct {
	core  Attributes
	extra []Category
	fixed func(attr string) bool
}

// titled is the core attributes of a resource the job names title.
func titled(title string) Attributes {
	var at Attributes
	at.Set(AttrCoreTitle, Str(title))
	return at
}

// linking is the core attributes of a link from source to target.
func (a *Adapter) linking(source, target string) Attributes {
	var at Attributes
	at.Set(AttrCoreSource, Str(a.ref(source)))
	at.Set(AttrCoreTarget, Str(a.ref(target)))
	return at
}

// createEntity creates an entity of the kind kindID at the kind's
// location: its kind, ne's categories, e's attributes by rows, ne's core
// attributes and the mixins the attributes belong to. It returns the new
// entity's location.
func createEntity[E any](ctx context.Context, a *Adapter, md *Model, kindID string, rows []row[E], e *E, ne newEntity) (string, error) {
	kind, loc, err := kindOf(md, kindID)
	if err != nil {
		return "", err
	}
	attrs, mixins, err := toOCCI(rows, e, ne.fixed)
	if err != nil {
		return "", &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: err}
	}
	attrs.SetAll(ne.core)
	msg := &Message{Categories: append([]Category{kind}, ne.extra...), Attributes: attrs}
	if err := a.withMixins(md, msg, kindID, mixins); err != nil {
		return "", err
	}
	return a.create(ctx, "create "+strings.TrimPrefix(kindID, SchemeInfra), loc, msg)
}

// ---------------------------------------------------------------------------
// Remove

// Remove deletes the links, then the compute, storage and network the
// resource holds (a configured shared network is left alone). Entities
// already gone are not an error.
func (a *Adapter) Remove(ctx context.Context, res *contract.Resource) error {
	if res == nil {
		return nil
	}
	n := res.Native
	order := []string{nativeNetworkInterface, nativeStorageLink, nativeCompute, nativeStorage, nativeNetwork}
	kinds := map[string]string{nativeCompute: KindCompute, nativeStorage: KindStorage, nativeNetwork: KindNetwork}
	var errs []error
	for _, k := range order {
		loc := n[k]
		if title := n[k+titleSuffix]; loc == "" && title != "" {
			// A create whose outcome Provision could not see: look for
			// the entity by the job's title.
			found, err := a.titledLocation(ctx, kinds[k], title)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			loc = found
		}
		if loc == "" || (k == nativeNetwork && n[nativeNetworkShared] != "") {
			continue
		}
		_, err := a.do(ctx, "remove", http.MethodDelete, loc, nil, "")
		if err != nil && contract.KindOf(err) != contract.KindNotFound {
			// A link the server already dropped with its compute may be
			// refused rather than reported missing; go on, and report the
			// first real failure.
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func nz(v uint64) *uint64 {
	if v == 0 {
		return nil
	}
	return &v
}

// Interface guards.
var (
	_ contract.Adapter    = (*Adapter)(nil)
	_ contract.Discoverer = (*Adapter)(nil)
	_ contract.Finder     = (*Adapter)(nil)
)
