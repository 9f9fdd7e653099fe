package occi

// This file is the adapter's whole mapping between the draft's CSB
// elements and OCCI: identifiers, attribute rows with their unit
// conversions, state and action tables, and HTTP status classes. README.md
// in this directory documents the same tables for users; keep them in step.

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters/internal/nativeerr"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// OCCI identifiers (GFD.183/GFD.184 for OCCI 1.1, GFD.221/GFD.224 for
// OCCI 1.2; the identifiers are the same in both).
const (
	SchemeCore  = "http://schemas.ogf.org/occi/core#"
	SchemeInfra = "http://schemas.ogf.org/occi/infrastructure#"

	KindCompute          = SchemeInfra + "compute"
	KindStorage          = SchemeInfra + "storage"
	KindNetwork          = SchemeInfra + "network"
	KindNetworkInterface = SchemeInfra + "networkinterface"
	KindStorageLink      = SchemeInfra + "storagelink"

	MixinIPNetwork          = "http://schemas.ogf.org/occi/infrastructure/network#ipnetwork"
	MixinIPNetworkInterface = "http://schemas.ogf.org/occi/infrastructure/networkinterface#ipnetworkinterface"
	MixinResourceTpl        = SchemeInfra + "resource_tpl"
	MixinOSTpl              = SchemeInfra + "os_tpl"

	SchemeComputeAction = "http://schemas.ogf.org/occi/infrastructure/compute/action#"
	SchemeNetworkAction = "http://schemas.ogf.org/occi/infrastructure/network/action#"
	SchemeStorageAction = "http://schemas.ogf.org/occi/infrastructure/storage/action#"

	AttrCoreID     = "occi.core.id"
	AttrCoreTitle  = "occi.core.title"
	AttrCoreSource = "occi.core.source"
	AttrCoreTarget = "occi.core.target"
)

// defaultLocations are the collection paths used when a server's
// discovery names no location for a kind (rOCCI's JSON rendering does
// not); they are the ones GFD.185's examples and the recorded server use.
var defaultLocations = map[string]string{
	KindCompute:          "/compute/",
	KindStorage:          "/storage/",
	KindNetwork:          "/network/",
	KindNetworkInterface: "/networkinterface/",
	KindStorageLink:      "/storagelink/",
}

// ---------------------------------------------------------------------------
// Attribute rows

// row maps one CSB child element of element type E to one OCCI attribute.
type row[E any] struct {
	CSB   string // the draft's element name
	OCCI  string // the OCCI attribute
	Mixin string // the mixin that declares the attribute; "" for the kind
	Conv  conv   // how values convert
	// ReadOnly rows are read back from the provider but never sent: OCCI
	// changes them through actions only.
	ReadOnly bool
	acc      accessor[E]
}

var computeRows = []row[csbmsg.Compute]{
	{CSB: "architecture", OCCI: "occi.compute.architecture", Conv: convArch, acc: strField(func(c *csbmsg.Compute) **string { return &c.Architecture })},
	{CSB: "cores", OCCI: "occi.compute.cores", Conv: convInt, acc: u64Field(func(c *csbmsg.Compute) **uint64 { return &c.Cores })},
	{CSB: "hostname", OCCI: "occi.compute.hostname", Conv: convString, acc: strField(func(c *csbmsg.Compute) **string { return &c.Hostname })},
	{CSB: "speed", OCCI: "occi.compute.speed", Conv: convGHz, acc: u64Field(func(c *csbmsg.Compute) **uint64 { return &c.Speed })},
	{CSB: "memory", OCCI: "occi.compute.memory", Conv: convGiB, acc: u64Field(func(c *csbmsg.Compute) **uint64 { return &c.Memory })},
	{CSB: "status", OCCI: "occi.compute.state", Conv: convComputeState, ReadOnly: true, acc: enumField(func(c *csbmsg.Compute) **csbmsg.ComputeStatus { return &c.Status })},
}

var storageRows = []row[csbmsg.Storage]{
	{CSB: "size", OCCI: "occi.storage.size", Conv: convGiB, acc: u64Field(func(s *csbmsg.Storage) **uint64 { return &s.Size })},
	{CSB: "status", OCCI: "occi.storage.state", Conv: convStorageState, ReadOnly: true, acc: enumField(func(s *csbmsg.Storage) **csbmsg.StorageStatus { return &s.Status })},
}

var networkRows = []row[csbmsg.Network]{
	{CSB: "vlan", OCCI: "occi.network.vlan", Conv: convVLAN, acc: strField(func(n *csbmsg.Network) **string { return &n.VLAN })},
	{CSB: "VLANlabel", OCCI: "occi.network.label", Conv: convString, acc: strField(func(n *csbmsg.Network) **string { return &n.VLANLabel })},
	{CSB: "address", OCCI: "occi.network.address", Mixin: MixinIPNetwork, Conv: convString, acc: strField(func(n *csbmsg.Network) **string { return &n.Address })},
	{CSB: "gateway", OCCI: "occi.network.gateway", Mixin: MixinIPNetwork, Conv: convString, acc: strField(func(n *csbmsg.Network) **string { return &n.Gateway })},
	{CSB: "allocation", OCCI: "occi.network.allocation", Mixin: MixinIPNetwork, Conv: convAllocation, acc: enumField(func(n *csbmsg.Network) **csbmsg.Allocation { return &n.Allocation })},
	{CSB: "status", OCCI: "occi.network.state", Conv: convLinkState, ReadOnly: true, acc: enumField(func(n *csbmsg.Network) **csbmsg.NetworkStatus { return &n.Status })},
}

var networkInterfaceRows = []row[csbmsg.NetworkInterface]{
	{CSB: "interface", OCCI: "occi.networkinterface.interface", Conv: convString, acc: strField(func(n *csbmsg.NetworkInterface) **string { return &n.Interface })},
	{CSB: "mac", OCCI: "occi.networkinterface.mac", Conv: convString, acc: strField(func(n *csbmsg.NetworkInterface) **string { return &n.MAC })},
	{CSB: "ip", OCCI: "occi.networkinterface.address", Mixin: MixinIPNetworkInterface, Conv: convString, acc: strField(func(n *csbmsg.NetworkInterface) **string { return &n.IP })},
	{CSB: "gateway", OCCI: "occi.networkinterface.gateway", Mixin: MixinIPNetworkInterface, Conv: convString, acc: strField(func(n *csbmsg.NetworkInterface) **string { return &n.Gateway })},
	{CSB: "allocation", OCCI: "occi.networkinterface.allocation", Mixin: MixinIPNetworkInterface, Conv: convAllocation, acc: enumField(func(n *csbmsg.NetworkInterface) **csbmsg.Allocation { return &n.Allocation })},
	{CSB: "status", OCCI: "occi.networkinterface.state", Conv: convLinkState, ReadOnly: true, acc: enumField(func(n *csbmsg.NetworkInterface) **csbmsg.NetworkStatus { return &n.Status })},
}

var storageLinkRows = []row[csbmsg.StorageLink]{
	{CSB: "deviceid", OCCI: "occi.storagelink.deviceid", Conv: convString, acc: strField(func(s *csbmsg.StorageLink) **string { return &s.DeviceID })},
	{CSB: "mountpoint", OCCI: "occi.storagelink.mountpoint", Conv: convString, acc: strField(func(s *csbmsg.StorageLink) **string { return &s.Mountpoint })},
	{CSB: "status", OCCI: "occi.storagelink.state", Conv: convLinkState, ReadOnly: true, acc: enumField(func(s *csbmsg.StorageLink) **csbmsg.NetworkStatus { return &s.Status })},
}

// ---------------------------------------------------------------------------
// Value conversions

// conv converts one value between its CSB spelling and its OCCI value.
type conv struct {
	Name string
	To   func(csb string) (Value, error) // request → OCCI
	From func(v Value) (string, bool)    // OCCI → granted; false: no CSB value
}

var (
	// convString: a string both sides. A value holding a line break
	// other than the \n the rendering escapes (a CR, NEL, the Unicode
	// line separators) or any other control character is refused: in
	// the text/plain body it would end the attribute's line for servers
	// that split lines on it, and what follows would be read as lines of
	// the request's own (a Link to another tenant's network).
	convString = conv{Name: "string",
		To: func(s string) (Value, error) {
			if i := strings.IndexFunc(s, breaksLine); i >= 0 {
				return Value{}, fmt.Errorf("%q holds the control character %U", s, []rune(s[i:])[0])
			}
			return Str(s), nil
		},
		From: func(v Value) (string, bool) { return v.S, v.S != "" },
	}
	// convInt: an integer both sides.
	convInt = conv{Name: "integer",
		To:   func(s string) (Value, error) { return numberFromCSB(s) },
		From: func(v Value) (string, bool) { return wholeFromOCCI(v) },
	}
	// convGiB: CSB memory and storage size are whole GB, read as GiB
	// (2^30 bytes); OCCI's occi.compute.memory and occi.storage.size are
	// GiB floats. Granted fractions round to the nearest whole GB, and a
	// non-zero amount below 0.5 GB reads as 1.
	convGiB = conv{Name: "GiB",
		To:   func(s string) (Value, error) { return numberFromCSB(s) },
		From: func(v Value) (string, bool) { return wholeFromOCCI(v) },
	}
	// convGHz: CSB speed is whole GHz; occi.compute.speed is a GHz float.
	convGHz = conv{Name: "GHz",
		To:   func(s string) (Value, error) { return numberFromCSB(s) },
		From: func(v Value) (string, bool) { return wholeFromOCCI(v) },
	}
	convArch = conv{Name: "architecture",
		To: func(s string) (Value, error) {
			a, ok := archAliases[strings.ToLower(strings.TrimSpace(s))]
			if !ok {
				return Value{}, fmt.Errorf("architecture %q has no OCCI equivalent (x86 or x64)", s)
			}
			return Str(a), nil
		},
		From: func(v Value) (string, bool) { return v.S, v.S != "" },
	}
	// convVLAN: CSB vlan is an NMTOKEN; occi.network.vlan is an integer
	// 0..4095 (802.1q).
	convVLAN = conv{Name: "vlan",
		To: func(s string) (Value, error) {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
			if err != nil || n > 4095 {
				return Value{}, fmt.Errorf("vlan %q is not an 802.1q id (0..4095)", s)
			}
			return Int(n), nil
		},
		From: func(v Value) (string, bool) {
			if _, err := strconv.ParseUint(v.S, 10, 16); err != nil {
				return "", false // e.g. OpenNebula's "NO"
			}
			return v.S, true
		},
	}
	convAllocation = conv{Name: "allocation",
		To: func(s string) (Value, error) {
			switch csbmsg.Allocation(s) {
			case csbmsg.AllocationDynamic, csbmsg.AllocationStatic:
				return Str(s), nil
			}
			return Value{}, fmt.Errorf("allocation %q is neither dynamic nor static", s)
		},
		From: func(v Value) (string, bool) {
			switch csbmsg.Allocation(v.S) {
			case csbmsg.AllocationDynamic, csbmsg.AllocationStatic:
				return v.S, true
			}
			return "", false
		},
	}
	convComputeState = stateConv("compute state", computeStates)
	convStorageState = stateConv("storage state", storageStates)
	convLinkState    = stateConv("state", linkStates)
)

// breaksLine reports a character a string attribute may not hold: a C0
// or C1 control character (\n included, though the rendering escapes
// it: no attribute the adapter sends is multi-line), DEL, or a Unicode
// line or paragraph separator.
func breaksLine(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029'
}

// archAliases maps common architecture spellings to OCCI's enumeration.
var archAliases = map[string]string{
	"x86": "x86", "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "ia32": "x86", "x86_32": "x86",
	"x64": "x64", "x86_64": "x64", "x86-64": "x64", "amd64": "x64", "em64t": "x64",
}

func numberFromCSB(s string) (Value, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return Value{}, fmt.Errorf("%q is not a whole number", s)
	}
	return Int(n), nil
}

// wholeFromOCCI rounds an OCCI number to the nearest whole unit; a
// positive amount never rounds down to zero.
func wholeFromOCCI(v Value) (string, bool) {
	f, err := v.Float()
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false
	}
	n := math.Round(f)
	if n == 0 && f > 0 {
		n = 1
	}
	return strconv.FormatFloat(n, 'f', 0, 64), true
}

// stateMap maps OCCI states to CSB statuses and to the adapter's resource
// state. An empty CSB value means the OCCI state has no CSB spelling.
type stateMap map[string]struct {
	CSB   string
	State contract.State
}

var computeStates = stateMap{
	"active":    {string(csbmsg.ComputeActive), contract.StateReady},
	"inactive":  {string(csbmsg.ComputeInactive), contract.StateReady},
	"suspended": {string(csbmsg.ComputeSuspended), contract.StateReady},
	"error":     {"", contract.StateFailed},
	// Not in the specification; rOCCI-server and OpenNebula report these
	// while a machine is being deployed.
	"waiting": {string(csbmsg.ComputeInactive), contract.StatePending},
	"pending": {string(csbmsg.ComputeInactive), contract.StatePending},
}

var storageStates = stateMap{
	"online":   {string(csbmsg.StorageOnline), contract.StateReady},
	"offline":  {string(csbmsg.StorageOffline), contract.StateReady},
	"degraded": {string(csbmsg.StorageDegraded), contract.StateReady},
	// OCCI 1.1 transitional states while an action runs.
	"backup":   {string(csbmsg.StorageOnline), contract.StatePending},
	"snapshot": {string(csbmsg.StorageOnline), contract.StatePending},
	"resize":   {string(csbmsg.StorageOnline), contract.StatePending},
	// OCCI 1.2.
	"error": {string(csbmsg.StorageDegraded), contract.StateFailed},
}

var linkStates = stateMap{
	"active":   {string(csbmsg.NetworkActive), contract.StateReady},
	"inactive": {string(csbmsg.NetworkInactive), contract.StateReady},
	"error":    {string(csbmsg.NetworkInactive), contract.StateFailed},
}

func stateConv(name string, m stateMap) conv {
	return conv{Name: name,
		To: func(s string) (Value, error) { return Value{}, fmt.Errorf("%s is read-only", name) },
		From: func(v Value) (string, bool) {
			st, ok := m[strings.ToLower(v.S)]
			return st.CSB, ok && st.CSB != ""
		},
	}
}

// stateOf returns the adapter state an OCCI state implies; unknown states
// are pending.
func stateOf(m stateMap, occi string) contract.State {
	if st, ok := m[strings.ToLower(occi)]; ok {
		return st.State
	}
	return contract.StatePending
}

// ---------------------------------------------------------------------------
// Actions

// action maps a CSB action to an OCCI action and the state it leads to.
type action struct {
	OCCI   string // action identifier
	Target string // the OCCI state the resource settles in; "" = unchanged
}

var computeActions = map[csbmsg.ComputeAction]action{
	csbmsg.ComputeStart:   {SchemeComputeAction + "start", "active"},
	csbmsg.ComputeStop:    {SchemeComputeAction + "stop", "inactive"},
	csbmsg.ComputeRestart: {SchemeComputeAction + "restart", "active"},
	csbmsg.ComputeSuspend: {SchemeComputeAction + "suspend", "suspended"},
}

var networkActions = map[csbmsg.NetworkAction]action{
	csbmsg.NetworkUp:   {SchemeNetworkAction + "up", "active"},
	csbmsg.NetworkDown: {SchemeNetworkAction + "down", "inactive"},
}

var storageActions = map[csbmsg.StorageAction]action{
	csbmsg.StorageActOnline:   {SchemeStorageAction + "online", "online"},
	csbmsg.StorageActOffline:  {SchemeStorageAction + "offline", "offline"},
	csbmsg.StorageActBackup:   {SchemeStorageAction + "backup", ""},
	csbmsg.StorageActSnapshot: {SchemeStorageAction + "snapshot", ""},
	csbmsg.StorageActResize:   {SchemeStorageAction + "resize", ""},
}

// resizeSizeAttr is the attribute of OCCI 1.1's storage resize action
// (GFD.184 table 9; the recorded rOCCI server declares it as "size").
const resizeSizeAttr = "size"

// ---------------------------------------------------------------------------
// HTTP statuses

// statusKind classifies a provider's HTTP status (GFD.185 section 3.6,
// GFD.223 section 5.5).
func statusKind(code int) contract.ErrorKind {
	switch {
	case code == http.StatusNotImplemented:
		return contract.KindUnsupported // the server lacks the kind, mixin or action
	case code >= 400:
		return nativeerr.Kind(code, nil) // not found, capacity, timeout, client, server
	}
	return contract.KindServer
}

// retryable reports whether an idempotent request may be repeated after
// this status.
func retryable(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// ---------------------------------------------------------------------------
// Table machinery

type accessor[E any] struct {
	get func(*E) (string, bool)
	set func(*E, string) error
}

func strField[E any](f func(*E) **string) accessor[E] {
	return accessor[E]{
		get: func(e *E) (string, bool) {
			p := *f(e)
			if p == nil {
				return "", false
			}
			return *p, true
		},
		set: func(e *E, s string) error { *f(e) = &s; return nil },
	}
}

func u64Field[E any](f func(*E) **uint64) accessor[E] {
	return accessor[E]{
		get: func(e *E) (string, bool) {
			p := *f(e)
			if p == nil {
				return "", false
			}
			return strconv.FormatUint(*p, 10), true
		},
		set: func(e *E, s string) error {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return err
			}
			*f(e) = &n
			return nil
		},
	}
}

func enumField[E any, T ~string](f func(*E) **T) accessor[E] {
	return accessor[E]{
		get: func(e *E) (string, bool) {
			p := *f(e)
			if p == nil {
				return "", false
			}
			return string(*p), true
		},
		set: func(e *E, s string) error { v := T(s); *f(e) = &v; return nil },
	}
}

// toOCCI converts the set fields of e into attributes, and returns the
// mixins those attributes need. skip, if not nil, leaves attributes out
// (those a resource template fixes).
func toOCCI[E any](rows []row[E], e *E, skip func(attr string) bool) (Attributes, []string, error) {
	var attrs Attributes
	var mixins []string
	if e == nil {
		return attrs, nil, nil
	}
	for _, r := range rows {
		if r.ReadOnly {
			continue
		}
		s, ok := r.acc.get(e)
		if !ok || (skip != nil && skip(r.OCCI)) {
			continue
		}
		v, err := r.Conv.To(s)
		if err != nil {
			return attrs, nil, fmt.Errorf("%s: %w", r.CSB, err)
		}
		attrs.Set(r.OCCI, v)
		if r.Mixin != "" && !contains(mixins, r.Mixin) {
			mixins = append(mixins, r.Mixin)
		}
	}
	return attrs, mixins, nil
}

// fromOCCI fills a new E from OCCI attributes; it returns nil when no row
// applied.
func fromOCCI[E any](rows []row[E], attrs Attributes) *E {
	e := new(E)
	set := false
	for _, r := range rows {
		v, ok := attrs.Get(r.OCCI)
		if !ok {
			continue
		}
		s, ok := r.Conv.From(v)
		if !ok {
			continue
		}
		if r.acc.set(e, s) == nil {
			set = true
		}
	}
	if !set {
		return nil
	}
	return e
}

// changed returns the attributes of want that differ from have (absent
// fields in want are left alone).
func changed[E any](rows []row[E], want, have *E) (Attributes, []string, error) {
	all, mixins, err := toOCCI(rows, want, nil)
	if err != nil || have == nil {
		return all, mixins, err
	}
	var out Attributes
	for _, r := range rows {
		v, ok := all.Get(r.OCCI)
		if !ok {
			continue
		}
		if cur, ok := r.acc.get(have); ok {
			if w, _ := r.acc.get(want); w == cur || (r.Conv.Name == "architecture" && v.S == cur) {
				continue
			}
		}
		out.Set(r.OCCI, v)
	}
	return out, mixins, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
