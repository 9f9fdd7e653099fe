// Package sandbox is an in-memory cloud provider for local use and tests,
// in the spirit of Deltacloud's mock driver: not a stub, but a small cloud
// with real state and enforced capacity.
//
//   - Its native APIs are CIMI (DMTF DSP0263, JSON binding) for IaaS and
//     CDMI (SNIA CDMI 1.1.1) for DSaaS, each an http.Handler (CIMI, CDMI).
//   - It has a capacity (cores, memory, storage) that every create and
//     resize is checked against, and an advertised price.
//   - It is the provider side of the draft's Publish interface: it accepts
//     <csbrequest><subscription> commands and sends <csbnotification>
//     messages to the broker (see Publisher).
//   - Fault injection (latency, error rate with a seeded RNG, fail after N,
//     hang) makes the native APIs misbehave on purpose for tests.
//
// One Cloud holds the state; its handlers can be mounted under any path
// prefix. All methods are safe for concurrent use.
//
// This package does not import Caddy.
package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Capacity is an amount of cloud resources.
type Capacity struct {
	Cores     uint64 `json:"cores"`
	MemoryGB  uint64 `json:"memory_gb"`
	StorageGB uint64 `json:"storage_gb"`
}

// Config configures a Cloud.
type Config struct {
	// ProviderID is the Cloud-Service-Provider-id the cloud publishes.
	// Default "sandbox".
	ProviderID string
	// Capacity is what the cloud can hand out in total. Defaults: 16
	// cores, 64 GB memory, 500 GB storage.
	Capacity Capacity
	// Price is the advertised price per job; it is published in the
	// notification's label as "price:<value>".
	Price float64
	// Architecture is the CPU architecture of every machine. Default
	// "x86_64".
	Architecture string
	// BuildTime is how long a created machine stays CREATING and an
	// action's transition (STARTING, STOPPING, ...) lasts, measured on the
	// cloud's clock. Zero makes every transition immediate.
	BuildTime time.Duration
	// CIMIURL and CDMIURL are the public URLs of the native APIs, published
	// as the services' Cloud-Service-URI. Optional.
	CIMIURL, CDMIURL string
	// URI is the published Cloud-Service-Provider-URI. Optional.
	URI string
}

func (c Config) withDefaults() Config {
	if c.ProviderID == "" {
		c.ProviderID = "sandbox"
	}
	if c.Capacity == (Capacity{}) {
		c.Capacity = Capacity{Cores: 16, MemoryGB: 64, StorageGB: 500}
	}
	if c.Architecture == "" {
		c.Architecture = "x86_64"
	}
	return c
}

// Cloud is the sandbox's state: machines, volumes, networks, jobs, the
// CDMI namespace, capacity in use, fault settings and subscriptions.
type Cloud struct {
	mu     sync.Mutex
	cfg    Config
	clk    clock.Clock
	nextID uint64
	// idTag is a random tag in every resource id, so that the ids of a
	// restarted (empty) cloud never name what an earlier run created: a
	// broker that kept a job across the restart must not reclaim a new
	// consumer's machine when that job's lease ends.
	idTag string

	// CIMI state, keyed by resource path relative to the CIMI root
	// ("machines/3").
	machines map[string]*machine
	// moving are the machines in a transition (target set): what
	// settleLocked looks at, so that it costs nothing per machine at rest.
	moving   map[*machine]struct{}
	volumes  map[string]*volume
	networks map[string]*network
	jobs     map[string]*job

	// CDMI state, keyed by path ("/c1/obj").
	objects map[string]*cdmiObject

	usedCores, usedMemKiB, usedStorageBytes uint64

	faults *faultState

	version uint64
	changed chan struct{} // closed and replaced on every published change

	pub *pubState
}

// New returns a cloud with the given configuration.
func New(cfg Config) *Cloud {
	c := &Cloud{
		cfg:      cfg.withDefaults(),
		clk:      clock.Real{},
		idTag:    fmt.Sprintf("%06x", rand.Uint32()&0xffffff),
		machines: map[string]*machine{},
		moving:   map[*machine]struct{}{},
		volumes:  map[string]*volume{},
		networks: map[string]*network{},
		jobs:     map[string]*job{},
		objects:  map[string]*cdmiObject{},
		faults:   newFaultState(),
		changed:  make(chan struct{}),
		pub:      newPubState(),
	}
	c.initCIMI()
	c.initCDMI()
	return c
}

// SetClock replaces the cloud's clock (tests). It must be called before
// the cloud is used.
func (c *Cloud) SetClock(clk clock.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clk = clk
}

// Reconfigure applies a new configuration to a running cloud (a Caddy
// reload): capacity, price, URLs and timings change; state is kept. A
// capacity below what is in use is allowed; new requests then fail until
// enough is released.
func (c *Cloud) Reconfigure(cfg Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg = cfg.withDefaults()
	if cfg.ProviderID != c.cfg.ProviderID {
		// The provider id is part of every subscription's meaning; keep it.
		cfg.ProviderID = c.cfg.ProviderID
	}
	c.cfg = cfg
	c.bumpLocked()
}

// Config returns the cloud's current configuration.
func (c *Cloud) Config() Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// Usage returns the capacity in use. StorageGB is rounded up.
func (c *Cloud) Usage() Capacity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Capacity{
		Cores:     c.usedCores,
		MemoryGB:  ceilDiv(c.usedMemKiB, kibPerGiB),
		StorageGB: ceilDiv(c.usedStorageBytes, bytesPerGiB),
	}
}

// Inventory counts what consumers created and still hold: machines,
// volumes, networks (not the cloud's own public network), machine-volume
// attachments and CDMI objects (not the root, the domain root nor
// capabilities). A conformance test checks it is back to zero after
// every remove.
type Inventory struct {
	Machines, Volumes, Networks, Attachments, Objects int
}

// Total is the number of things held.
func (i Inventory) Total() int {
	return i.Machines + i.Volumes + i.Networks + i.Attachments + i.Objects
}

// Inventory returns what the cloud holds for consumers.
func (c *Cloud) Inventory() Inventory {
	c.mu.Lock()
	defer c.mu.Unlock()
	var inv Inventory
	inv.Machines = len(c.machines)
	inv.Volumes = len(c.volumes)
	for _, n := range c.networks {
		if !n.system {
			inv.Networks++
		}
	}
	for _, m := range c.machines {
		inv.Attachments += len(m.attachments)
	}
	for _, o := range c.objects {
		if !o.system {
			inv.Objects++
		}
	}
	return inv
}

// Version increments on every change that alters what the cloud
// publishes (capacity in use, configuration).
func (c *Cloud) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Changed returns a channel that is closed at the next published change.
func (c *Cloud) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Cloud) bumpLocked() {
	c.version++
	close(c.changed)
	c.changed = make(chan struct{})
}

// Offer is what the cloud publishes: its provider element, its services
// (one IaaS service with the capacity left, one DSaaS service), and the
// notification label carrying the price.
func (c *Cloud) Offer() (csbmsg.Provider, []csbmsg.Service, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offerLocked()
}

func (c *Cloud) offerLocked() (csbmsg.Provider, []csbmsg.Service, string) {
	cfg := c.cfg
	prov := csbmsg.Provider{ID: cfg.ProviderID, Status: csbmsg.ServiceActive, URI: cfg.URI}
	freeCores := sub(cfg.Capacity.Cores, c.usedCores)
	freeMem := sub(cfg.Capacity.MemoryGB*kibPerGiB, c.usedMemKiB) / kibPerGiB
	freeStorage := sub(cfg.Capacity.StorageGB*bytesPerGiB, c.usedStorageBytes) / bytesPerGiB
	// A full cloud stays active, offering what it has left (nothing):
	// the draft's unavailable means "not to be contacted" (4.1.2.3.2),
	// and a broker honouring it would hold back the removals that are
	// the only way to free the cloud. A request finds no room in a
	// service that offers 0 cores, so placement passes it over.
	iaasStatus := csbmsg.ServiceActive
	dsStatus := csbmsg.ServiceActive
	arch := cfg.Architecture
	online := csbmsg.StorageOnline
	dyn := csbmsg.AllocationDynamic
	active := csbmsg.NetworkActive
	label := "public"
	iaas := csbmsg.Service{
		ID:     cfg.ProviderID + "-iaas",
		Status: iaasStatus,
		URI:    cfg.CIMIURL,
		IaaS: &csbmsg.IaaS{
			Compute:          &csbmsg.Compute{Architecture: &arch, Cores: &freeCores, Memory: &freeMem},
			Network:          &csbmsg.Network{VLANLabel: &label, Allocation: &dyn, Status: &active},
			Storage:          &csbmsg.Storage{Size: &freeStorage, Status: &online},
			NetworkInterface: &csbmsg.NetworkInterface{Allocation: &dyn, Status: &active},
			StorageLink:      &csbmsg.StorageLink{Status: &active},
		},
	}
	ds := csbmsg.Service{
		ID:     cfg.ProviderID + "-dsaas",
		Status: dsStatus,
		URI:    cfg.CDMIURL,
		DSaaS: &csbmsg.DSaaS{
			DataObject:       &csbmsg.DataObject{},
			ContainerObject:  &csbmsg.ContainerObject{},
			DomainObject:     &csbmsg.DomainObject{},
			QueueObject:      &csbmsg.QueueObject{},
			CapabilityObject: &csbmsg.CapabilityObject{},
		},
	}
	return prov, []csbmsg.Service{iaas, ds}, "price:" + strconv.FormatFloat(cfg.Price, 'f', -1, 64)
}

// Units. The CSB's GB are read as GiB (2^30 bytes); CIMI's memory and
// capacities are in KiB.
const (
	kibPerGiB   = 1 << 20
	bytesPerGiB = 1 << 30
)

// newIDLocked returns a new resource id, such as "machines/3fa9c2-7":
// the cloud's random tag, then a counter.
func (c *Cloud) newIDLocked(prefix string) string {
	c.nextID++
	return fmt.Sprintf("%s%s-%d", prefix, c.idTag, c.nextID)
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// errCapacity is reported (HTTP 507) when a request does not fit.
type errCapacity struct{ what string }

func (e errCapacity) Error() string { return "insufficient capacity: " + e.what }

// reserveLocked checks and takes capacity; negative deltas release.
func (c *Cloud) reserveLocked(cores, memKiB, storageBytes int64) error {
	cfg := c.cfg.Capacity
	nc := int64(c.usedCores) + cores
	nm := int64(c.usedMemKiB) + memKiB
	ns := int64(c.usedStorageBytes) + storageBytes
	switch {
	case cores > 0 && nc > int64(cfg.Cores):
		return errCapacity{fmt.Sprintf("%d cores requested, %d free", cores, sub(cfg.Cores, c.usedCores))}
	case memKiB > 0 && nm > int64(cfg.MemoryGB*kibPerGiB):
		return errCapacity{fmt.Sprintf("%d KiB memory requested, %d free", memKiB, sub(cfg.MemoryGB*kibPerGiB, c.usedMemKiB))}
	case storageBytes > 0 && ns > int64(cfg.StorageGB*bytesPerGiB):
		return errCapacity{fmt.Sprintf("%d bytes storage requested, %d free", storageBytes, sub(cfg.StorageGB*bytesPerGiB, c.usedStorageBytes))}
	}
	c.usedCores, c.usedMemKiB, c.usedStorageBytes = uint64(max(nc, 0)), uint64(max(nm, 0)), uint64(max(ns, 0))
	if cores != 0 || memKiB != 0 || storageBytes != 0 {
		c.bumpLocked()
	}
	return nil
}
