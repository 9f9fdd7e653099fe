// Package cimi is the cloud service adapter for providers that speak DMTF
// CIMI (DSP0263, JSON binding). It discovers offers through the
// CloudEntryPoint, creates Machines from inline MachineTemplates, Volumes
// (attached through MachineVolume) and Networks, runs machine and network
// actions, and polls Machine and Job state. The CSB <-> CIMI mapping is in
// mapping.go and README.md.
//
// This package does not import Caddy.
package cimi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Config configures the adapter.
type Config struct {
	// Endpoint is the URL of the provider's CloudEntryPoint. Required.
	Endpoint string `json:"endpoint"`
	// Image is the MachineImage new machines boot: its href, or its name
	// in the machineImages collection. Default: the collection's first.
	Image string `json:"image,omitempty"`
	// NamePrefix prefixes the names of created resources; the job id
	// follows, so a crash mid-provisioning can be reconciled by name.
	// Default "csb-".
	NamePrefix string `json:"name_prefix,omitempty"`
}

// Adapter talks to one CIMI provider. It is safe for concurrent use.
type Adapter struct {
	contract.BrokerAuth
	cfg  Config
	base *url.URL // cfg.Endpoint, parsed
	// origin is base's scheme and host as base.String() writes them
	// ("http://cloud.example:8080"), for rebase's fast path; "" when base
	// has user information, which rebase's answers would carry.
	origin string
	http   httpx.Slot

	mu  sync.Mutex
	cep *CloudEntryPoint // cached after the first successful read
	img string           // resolved image href
}

// New returns an adapter for the provider at cfg.Endpoint.
func New(cfg Config) (*Adapter, error) {
	if err := httpx.CheckEndpoint("cimi", cfg.Endpoint); err != nil {
		return nil, err
	}
	base, ok := httpx.ParseHTTPURL(cfg.Endpoint)
	if !ok {
		return nil, fmt.Errorf("cimi: endpoint %q is not an http or https URL with a host", peerurl.RedactString(cfg.Endpoint))
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "csb-"
	}
	a := &Adapter{cfg: cfg, base: base}
	if base.User == nil {
		a.origin = strings.TrimSuffix((&url.URL{Scheme: base.Scheme, Host: base.Host, Path: "/"}).String(), "/")
	}
	a.SetHTTPClient(nil)
	return a, nil
}

// SetHTTPClient sets the client used for every call (TLS trust and
// authentication for this provider). Nil means a shared default client.
func (a *Adapter) SetHTTPClient(c *http.Client) {
	a.http.Set(c, http.Header{VersionHeader: {Version}})
}

// SetRetryPolicy tunes the retries of idempotent calls (tests).
func (a *Adapter) SetRetryPolicy(fn func(*httpx.Client)) {
	a.http.Tune(fn)
}

func (a *Adapter) client() *httpx.Client { return a.http.Get() }

// call performs one CIMI call with JSON in and out. The URL is rebased
// onto the endpoint first (see rebase): hrefs recorded before they were
// rebased when read (a job stored by an earlier version) reach the
// provider through its endpoint too, and no call of this adapter goes to
// another host.
func (a *Adapter) call(ctx context.Context, op, method, href string, in, out any) (*httpx.Response, error) {
	u, err := a.rebase(href)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindServer, Op: op, Err: err}
	}
	return a.client().Do(ctx, httpx.Call{Op: op, Method: method, URL: u, JSON: in, ContentType: MediaType, Accept: MediaType, Out: out})
}

func (a *Adapter) entryPoint(ctx context.Context, op string) (*CloudEntryPoint, error) {
	a.mu.Lock()
	cep := a.cep
	a.mu.Unlock()
	if cep != nil {
		return cep, nil
	}
	cep = new(CloudEntryPoint)
	if _, err := a.call(ctx, op+": read CloudEntryPoint", http.MethodGet, a.cfg.Endpoint, nil, cep); err != nil {
		return nil, err
	}
	for _, r := range []**Ref{&cep.Machines, &cep.MachineConfigs, &cep.MachineImages, &cep.Volumes, &cep.VolumeConfigs, &cep.Networks, &cep.Jobs, &cep.MachineTemplates} {
		if *r != nil {
			(*r).Href = a.resolve((*r).Href)
		}
	}
	a.mu.Lock()
	a.cep = cep
	a.mu.Unlock()
	return cep, nil
}

// resolve is rebase for an href the adapter records or sends; one that
// is not an http URL stays as it is (call refuses it).
func (a *Adapter) resolve(href string) string {
	u, err := a.rebase(href)
	if err != nil {
		return href
	}
	return u
}

// rebase makes href, from the provider's answer, an absolute URL on the
// configured endpoint. A relative href resolves against the endpoint, as
// CIMI allows. An absolute href on another scheme, host or port keeps its
// path and query and takes the endpoint's scheme and host, as the OCCI
// adapter does with locations.
//
// Why rebase rather than refuse: a provider behind a proxy or a load
// balancer commonly names itself by its internal host name in ids,
// Location and CIMI-Job-URI (its own idea of its base URI). Followed as
// they are, those hrefs would take the provider credentials to that
// host; the provider's peer URL policy refuses hosts other than the
// endpoint's before anything is sent, so instead the job became
// unreachable after its resources were made: the user got a failed job
// and resources left at the provider, from a provider that works. Refusing at
// create time would be clean but would make such a provider unusable.
// Rebased, the job works, the recorded hrefs are the ones the broker's
// route and peer policy know, and requests, with the provider
// credentials they carry, only ever go to the configured endpoint. A
// proxy that also moves paths (serving the provider's /cimi/ under
// /cloud-a/) is not undone: the path is kept as the provider wrote it.
func (a *Adapter) rebase(href string) (string, error) {
	if u, ok := a.rebaseFast(href); ok {
		return u, nil
	}
	return a.rebaseURL(href)
}

// rebaseFast is rebase without parsing, for the hrefs a provider
// commonly writes: an absolute URL on the endpoint's own scheme and host
// (which rebase returns as it is, so no string is made), or a path from
// the root. Only a path and query whose bytes parsing, resolving and
// printing leave as they are take it: no escaping ('%'), no dot
// segments, no empty segment, no fragment, no empty query, nothing that
// is not plain ASCII. The answer is always on the endpoint's origin, as
// rebaseURL's is; FuzzRebase holds the two to the same answers. False
// sends the href to rebaseURL.
func (a *Adapter) rebaseFast(href string) (string, bool) {
	if a.origin == "" {
		return "", false
	}
	rest, abs := strings.CutPrefix(href, a.origin)
	if !plainPath(rest) {
		return "", false
	}
	if abs {
		return href, true
	}
	return a.origin + href, true
}

// plainPath reports whether p is a path from the root, with an optional
// query, that url.Parse, ResolveReference and String give back
// unchanged (see rebaseFast).
func plainPath(p string) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	path, query, hasQuery := strings.Cut(p, "?")
	if strings.Contains(path, "//") || strings.Contains(path, "/.") || (hasQuery && query == "") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !plainByte[p[i]] && (i < len(path) || !plainQueryByte[p[i]]) {
			return false
		}
	}
	return true
}

// plainByte holds the bytes escape(s, encodePath) of net/url leaves as
// they are; plainQueryByte the further ones kept in a query.
var plainByte, plainQueryByte = func() (p, q [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/$&+,:;=@") {
		p[c] = true
	}
	for _, c := range []byte("?!'()*") {
		q[c] = true
	}
	return p, q
}()

// rebaseURL is rebase by parsing and resolving: every href rebaseFast
// does not take.
func (a *Adapter) rebaseURL(href string) (string, error) {
	r, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return "", fmt.Errorf("href %q: %w", href, err)
	}
	if r.Scheme != "" && r.Scheme != "http" && r.Scheme != "https" {
		return "", fmt.Errorf("href %q is not an http or https URL", href)
	}
	if r.IsAbs() || r.Host != "" {
		r = &url.URL{Path: r.Path, RawPath: r.RawPath, RawQuery: r.RawQuery}
		if r.Path == "" {
			r.Path = "/"
		}
	}
	return a.base.ResolveReference(r).String(), nil
}

// list reads the first answer of the collection at ref: Held's one GET
// per collection (contract.Census: a member on a later page only costs a
// Status call). What must see every member reads through each.
func (a *Adapter) list(ctx context.Context, op string, ref *Ref) ([]json.RawMessage, error) {
	if ref == nil || ref.Href == "" {
		return nil, nil
	}
	var col collection
	if _, err := a.call(ctx, op, http.MethodGet, ref.Href, nil, &col); err != nil {
		return nil, err
	}
	return col.Members, nil
}

// Bounds of each. A provider that never reaches the count it claims, or
// claims a huge collection, must not keep the broker reading or holding
// its answers: past these the read fails, naming the bound.
const (
	// MaxCollectionPages is the most requests one collection read makes.
	MaxCollectionPages = 100
	// MaxCollectionMembers is the largest collection (by its count, and
	// by the members read) each reads.
	MaxCollectionMembers = 10000
)

// each calls fn with every member of the collection at ref, one answer
// at a time. DSP0263 (5.5.12) lets a provider return fewer members than
// the collection's count; the consumer sees it by comparing the two and
// asks for the rest with the subsetting parameters $first and $last
// (4.1.6.2: 1-based, inclusive). DSP0263 defines no next or previous
// operation on a collection (its operations are add, insert and remove),
// so each follows no href from the answer: every page is the
// collection's own href (on the endpoint, see rebase) with $first and
// $last.
// A page that brings no member not seen before while the count is not
// reached (a provider that ignores $first, or whose count is wrong) ends
// the read with an error, as do the bounds above: a partial collection
// would make Find report a job incomplete, and the broker remove it,
// while its other parts stay at the provider.
func (a *Adapter) each(ctx context.Context, op string, ref *Ref, fn func(raw json.RawMessage) error) error {
	if ref == nil || ref.Href == "" {
		return nil
	}
	seed := maphash.MakeSeed()
	seen := map[uint64]bool{} // hashes of the ids read
	read := 0                 // position of the last member read
	href := ref.Href
	for page := 1; ; page++ {
		var col collection
		if _, err := a.call(ctx, op, http.MethodGet, href, nil, &col); err != nil {
			return err
		}
		if col.Count > MaxCollectionMembers {
			return contract.Errorf(contract.KindServer, op, "collection %s counts %d members, more than the %d the adapter reads", ref.Href, col.Count, MaxCollectionMembers)
		}
		fresh := 0
		for _, raw := range col.Members {
			var it struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &it)
			if h := maphash.String(seed, it.ID); it.ID == "" || !seen[h] {
				if it.ID != "" {
					seen[h] = true
				}
				fresh++
			}
			if err := fn(raw); err != nil {
				return err
			}
		}
		read += len(col.Members)
		switch {
		case read >= col.Count:
			return nil
		case read > MaxCollectionMembers:
			return contract.Errorf(contract.KindServer, op, "collection %s: more than %d members read", ref.Href, MaxCollectionMembers)
		case fresh == 0:
			return contract.Errorf(contract.KindServer, op, "collection %s counts %d members, but its answer at $first=%d brought no new one after %d: the provider does not page", ref.Href, col.Count, read-len(col.Members)+1, read-len(col.Members))
		case page >= MaxCollectionPages:
			return contract.Errorf(contract.KindServer, op, "collection %s: %d of %d members read in %d requests, the most the adapter makes", ref.Href, read, col.Count, page)
		}
		href = subset(ref.Href, read+1, col.Count)
	}
}

// subset is href with the subsetting parameters $first and $last
// (DSP0263 4.1.6.2) set to first and last; other parameters stay.
func subset(href string, first, last int) string {
	u, err := url.Parse(href)
	if err != nil {
		return href
	}
	var keep []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if kv != "" && !strings.HasPrefix(kv, "$first=") && !strings.HasPrefix(kv, "$last=") {
			keep = append(keep, kv)
		}
	}
	u.RawQuery = strings.Join(append(keep, fmt.Sprintf("$first=%d", first), fmt.Sprintf("$last=%d", last)), "&")
	return u.String()
}

// image returns the href of the MachineImage to boot.
func (a *Adapter) image(ctx context.Context, cep *CloudEntryPoint) (string, error) {
	a.mu.Lock()
	img := a.img
	a.mu.Unlock()
	if img != "" {
		return img, nil
	}
	want := a.cfg.Image
	if strings.Contains(want, "/") {
		img = a.resolve(want)
	} else {
		errFound := errors.New("found")
		err := a.each(ctx, "provision: machineImages", cep.MachineImages, func(raw json.RawMessage) error {
			var mi MachineImage
			if json.Unmarshal(raw, &mi) == nil && (want == "" || mi.Name == want) {
				img = a.resolve(mi.ID)
				return errFound // no need to read further
			}
			return nil
		})
		if err != nil && err != errFound {
			return "", err
		}
		if img == "" {
			return "", &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: fmt.Errorf("no machine image %q at the provider", want)}
		}
	}
	a.mu.Lock()
	a.img = img
	a.mu.Unlock()
	return img, nil
}

// Native keys of a Resource.
const (
	keyMachine       = "machine"
	keyVolume        = "volume"
	keyNetwork       = "network"
	keyMachineVolume = "machine_volume"
	keyLocation      = "initial_location"
	keyJob           = "job"
	keyJobID         = "csb_job"
)

// location is where a create put the resource: the Location header, else
// the returned representation's id.
func (a *Adapter) location(resp *httpx.Response, id string) string {
	if l := resp.Header.Get("Location"); l != "" {
		return a.resolve(l)
	}
	return a.resolve(id)
}

func unsupported(op string, format string, args ...any) error {
	return contract.Errorf(contract.KindUnsupported, op, format, args...)
}

// ServiceKinds reports the service model the adapter serves.
func (a *Adapter) ServiceKinds() []string { return []string{"IaaS"} }

// Interface guards.
var (
	_ contract.KindReporter = (*Adapter)(nil)
	_ contract.Adapter      = (*Adapter)(nil)
	_ contract.Discoverer   = (*Adapter)(nil)
	_ contract.Finder       = (*Adapter)(nil)
)
