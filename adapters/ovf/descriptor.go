// Package ovf expands a consumer request whose IaaS Link points to an OVF
// descriptor (DMTF DSP0243, the Open Virtualization Format envelope) into
// the compute, storage and network requirements the descriptor states, so
// that the request is then placed like any IaaS request.
//
// The descriptor is fetched only from allowed hosts (see Fetcher), never
// from loopback or private addresses unless explicitly allowed, and it is
// parsed with limits on size, depth and element count; DOCTYPE and entity
// declarations are refused. Parsing is namespace-aware (github.com/beevik/
// etree): OVF 1.x and 2.x envelopes, and the CIM RASD, SASD and EPASD item
// schemas.
//
// This package does not import Caddy.
package ovf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Namespaces of the OVF envelope (DSP0243 1.x and 2.x) and of the CIM
// settings its hardware items use.
const (
	NSEnvelope1 = "http://schemas.dmtf.org/ovf/envelope/1"
	NSEnvelope2 = "http://schemas.dmtf.org/ovf/envelope/2"
	nsCIMPrefix = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_"
)

// CIM ResourceType values (CIM_ResourceAllocationSettingData) the
// expansion reads.
const (
	ResourceProcessor = 3
	ResourceMemory    = 4
	ResourceEthernet  = 10
	ResourceDisk      = 17
)

// itemElements are the VirtualHardwareSection elements read as hardware
// items: Item (CIM RASD, OVF 1.x and 2.x), and OVF 2.x's StorageItem
// (SASD) and EthernetPortItem (EPASD).
var itemElements = []string{"Item", "StorageItem", "EthernetPortItem"}

// Limits bound what Parse accepts. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the largest descriptor accepted. Default 1 MiB.
	MaxBytes int64
	// MaxDepth is the deepest element nesting accepted. Default 32 (a
	// DSP0243 descriptor nests about 6 deep).
	MaxDepth int
	// MaxElements is the most elements accepted. Default 20000.
	MaxElements int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxElements <= 0 {
		l.MaxElements = 20000
	}
	return l
}

// Errors a refused descriptor or fetch wraps; test with errors.Is.
var (
	ErrTooLarge    = errors.New("descriptor too large")
	ErrTooDeep     = errors.New("descriptor nested too deep")
	ErrTooMany     = errors.New("descriptor has too many elements")
	ErrDoctype     = errors.New("DOCTYPE and entity declarations are refused")
	ErrNotOVF      = errors.New("not an OVF envelope")
	ErrMalformed   = errors.New("malformed descriptor")
	ErrUnsupported = errors.New("descriptor not expressible as a CSB request")
)

// Requirements is what a descriptor asks of the hardware, in bytes and
// hertz; Apply converts it to the draft's units.
type Requirements struct {
	// Name is the virtual system's ovf:id.
	Name string
	// CPUs is the number of virtual CPUs (ResourceType 3 VirtualQuantity).
	CPUs uint64
	// CPUHz is the processor reservation (or limit) in hertz, 0 if none.
	CPUHz float64
	// MemoryBytes is the memory (ResourceType 4), in bytes.
	MemoryBytes float64
	// DiskBytes is the total capacity of the disks the hardware references
	// (ResourceType 17 with ovf:/disk/<id> or ovf:/file/<id>).
	DiskBytes float64
	// Networks are the NetworkSection networks the ethernet adapters
	// (ResourceType 10) connect to.
	Networks []string
	// MACs are the ethernet adapters' addresses, where given.
	MACs []string
}

// Parse checks a descriptor against the limits and reads its
// requirements.
func Parse(data []byte, lim Limits) (*Requirements, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), lim.MaxBytes)
	}
	if err := screen(data, lim); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	env := doc.Root()
	if env == nil || env.Tag != "Envelope" || !isOVF(env.NamespaceURI()) {
		return nil, fmt.Errorf("%w: the root element must be an OVF Envelope (%s or %s)", ErrNotOVF, NSEnvelope1, NSEnvelope2)
	}
	return read(env)
}

// screen streams the document once before it is parsed: it refuses
// DOCTYPE (and with it any entity declaration), undefined entities,
// non-UTF-8 encodings, excessive depth and element counts.
func screen(data []byte, lim Limits) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported (use UTF-8)", charset)
	}
	depth, elements := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return fmt.Errorf("%w (found <!%s>)", ErrDoctype, firstWord(t))
		case xml.StartElement:
			depth++
			elements++
			if depth > lim.MaxDepth {
				return fmt.Errorf("%w: deeper than %d", ErrTooDeep, lim.MaxDepth)
			}
			if elements > lim.MaxElements {
				return fmt.Errorf("%w: more than %d", ErrTooMany, lim.MaxElements)
			}
		case xml.EndElement:
			depth--
		}
	}
	if elements == 0 {
		return fmt.Errorf("%w: no element", ErrMalformed)
	}
	return nil
}

func firstWord(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

func isOVF(ns string) bool { return ns == NSEnvelope1 || ns == NSEnvelope2 }

// ovfChildren returns the element's children in the OVF namespace with the
// local name.
func ovfChildren(e *etree.Element, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if c.Tag == tag && isOVF(c.NamespaceURI()) {
			out = append(out, c)
		}
	}
	return out
}

func ovfChild(e *etree.Element, tag string) *etree.Element {
	if cs := ovfChildren(e, tag); len(cs) > 0 {
		return cs[0]
	}
	return nil
}

// ovfAttr returns an OVF attribute (ovf:capacity); producers that leave the
// prefix off are tolerated.
func ovfAttr(e *etree.Element, key string) string {
	for _, a := range e.Attr {
		if a.Key != key {
			continue
		}
		if a.Space == "" || isOVF(a.NamespaceURI()) {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// cimChild returns the text of an item's CIM setting child (rasd:, sasd:,
// epasd:) with the local name.
func cimChild(item *etree.Element, tag string) (string, bool) {
	for _, c := range item.ChildElements() {
		if c.Tag == tag && strings.HasPrefix(c.NamespaceURI(), nsCIMPrefix) {
			return strings.TrimSpace(c.Text()), true
		}
	}
	return "", false
}

func read(env *etree.Element) (*Requirements, error) {
	files := map[string]float64{}
	if refs := ovfChild(env, "References"); refs != nil {
		for _, f := range ovfChildren(refs, "File") {
			if size, err := strconv.ParseFloat(ovfAttr(f, "size"), 64); err == nil {
				files[ovfAttr(f, "id")] = size
			}
		}
	}
	disks := map[string]float64{}
	for _, ds := range ovfChildren(env, "DiskSection") {
		for _, d := range ovfChildren(ds, "Disk") {
			id := ovfAttr(d, "diskId")
			capStr := ovfAttr(d, "capacity")
			if strings.HasPrefix(capStr, "${") {
				return nil, fmt.Errorf("%w: disk %q capacity is a property reference (%s)", ErrUnsupported, id, capStr)
			}
			n, err := strconv.ParseFloat(capStr, 64)
			if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
				return nil, fmt.Errorf("%w: disk %q capacity %q is not a number", ErrMalformed, id, capStr)
			}
			units := ovfAttr(d, "capacityAllocationUnits")
			mult, err := unitMultiplier(units, "byte")
			if err != nil {
				return nil, fmt.Errorf("%w: disk %q: %v", ErrMalformed, id, err)
			}
			disks[id] = n * mult
		}
	}
	networks := map[string]bool{}
	for _, ns := range ovfChildren(env, "NetworkSection") {
		for _, n := range ovfChildren(ns, "Network") {
			networks[ovfAttr(n, "name")] = true
		}
	}

	vs, err := virtualSystem(env)
	if err != nil {
		return nil, err
	}
	req := &Requirements{Name: ovfAttr(vs, "id")}
	hws := ovfChildren(vs, "VirtualHardwareSection")
	if len(hws) == 0 {
		return nil, fmt.Errorf("%w: virtual system %q has no VirtualHardwareSection", ErrMalformed, req.Name)
	}
	config := defaultConfiguration(env)
	var cpus float64 // summed as read, checked below
	for _, item := range hws[0].ChildElements() {
		if !isOVF(item.NamespaceURI()) || !contains(itemElements, item.Tag) {
			continue
		}
		if c := ovfAttr(item, "configuration"); c != "" && config != "" && !contains(strings.Fields(c), config) {
			continue // belongs to another deployment option
		}
		rt, _ := cimChild(item, "ResourceType")
		typ, err := strconv.Atoi(rt)
		if err != nil {
			continue
		}
		switch typ {
		case ResourceProcessor:
			q, err := quantity(item)
			if err != nil {
				return nil, fmt.Errorf("%w: processor item: %v", ErrMalformed, err)
			}
			cpus += q
			units, _ := cimChild(item, "AllocationUnits")
			for _, k := range []string{"Reservation", "Limit"} {
				if v, ok := cimChild(item, k); ok && req.CPUHz == 0 {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						continue
					}
					mult, err := unitMultiplier(units, "hertz")
					if err != nil {
						return nil, fmt.Errorf("%w: processor %s: %v", ErrMalformed, k, err)
					}
					req.CPUHz = f * mult
				}
			}
		case ResourceMemory:
			q, err := quantity(item)
			if err != nil {
				return nil, fmt.Errorf("%w: memory item: %v", ErrMalformed, err)
			}
			units, ok := cimChild(item, "VirtualQuantityUnits")
			if !ok {
				units, _ = cimChild(item, "AllocationUnits")
			}
			mult, err := unitMultiplier(units, "byte")
			if err != nil {
				return nil, fmt.Errorf("%w: memory item: %v", ErrMalformed, err)
			}
			req.MemoryBytes += q * mult
		case ResourceDisk:
			host, _ := cimChild(item, "HostResource")
			size, err := diskSize(host, disks, files)
			if err != nil {
				return nil, err
			}
			req.DiskBytes += size
		case ResourceEthernet:
			conn, _ := cimChild(item, "Connection")
			if conn != "" && len(networks) > 0 && !networks[conn] {
				return nil, fmt.Errorf("%w: ethernet adapter connects to %q, which NetworkSection does not declare", ErrMalformed, conn)
			}
			req.Networks = append(req.Networks, conn)
			if mac, ok := cimChild(item, "Address"); ok && mac != "" {
				req.MACs = append(req.MACs, mac)
			}
		}
	}
	// A NaN, or an amount past what the draft's whole units hold, is no
	// requirement a request can carry: converted to uint64 it became an
	// arbitrary number, or 0 and so no requirement at all.
	for _, c := range []struct {
		what    string
		v, unit float64
	}{
		{"processor count", cpus, 1}, {"memory", req.MemoryBytes, 1 << 30}, {"disk capacity", req.DiskBytes, 1 << 30}, {"processor speed", req.CPUHz, 1e9},
	} {
		if math.IsNaN(c.v) || c.v/c.unit >= maxWhole {
			return nil, fmt.Errorf("%w: the %s (%g) is not an amount a request can hold", ErrMalformed, c.what, c.v)
		}
	}
	req.CPUs = uint64(cpus)
	return req, nil
}

// maxWhole bounds a requirement in the draft's units (processors, GB,
// GHz): float64 holds every whole number below 2^53 exactly, and its
// conversion to uint64 is defined for them.
const maxWhole = 1 << 53

// virtualSystem returns the envelope's one virtual system: the draft's
// request holds one compute, so a collection of several is refused.
func virtualSystem(env *etree.Element) (*etree.Element, error) {
	var all []*etree.Element
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.ChildElements() {
			if !isOVF(c.NamespaceURI()) {
				continue
			}
			switch c.Tag {
			case "VirtualSystem":
				all = append(all, c)
			case "VirtualSystemCollection":
				walk(c)
			}
		}
	}
	walk(env)
	if len(all) != 1 {
		return nil, fmt.Errorf("%w: the descriptor describes %d virtual systems; a CSB request holds one compute", ErrUnsupported, len(all))
	}
	return all[0], nil
}

// defaultConfiguration returns the DeploymentOptionSection's default
// configuration id ("" when there is none).
func defaultConfiguration(env *etree.Element) string {
	dos := ovfChild(env, "DeploymentOptionSection")
	if dos == nil {
		return ""
	}
	cs := ovfChildren(dos, "Configuration")
	for _, c := range cs {
		if v := ovfAttr(c, "default"); v == "true" || v == "1" {
			return ovfAttr(c, "id")
		}
	}
	if len(cs) > 0 {
		return ovfAttr(cs[0], "id")
	}
	return ""
}

func quantity(item *etree.Element) (float64, error) {
	v, ok := cimChild(item, "VirtualQuantity")
	if !ok {
		return 0, errors.New("no VirtualQuantity")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return 0, fmt.Errorf("VirtualQuantity %q is not a number", v)
	}
	return f, nil
}

// diskSize resolves a disk item's HostResource: ovf:/disk/<diskId> (the
// DiskSection capacity) or ovf:/file/<fileId> (the file's size).
func diskSize(host string, disks, files map[string]float64) (float64, error) {
	if host == "" {
		return 0, nil // an empty drive
	}
	for _, src := range []struct {
		prefix string
		sizes  map[string]float64
		where  string
	}{
		{"ovf:/disk/", disks, "DiskSection does not declare"},
		{"ovf:/file/", files, "References does not size"},
	} {
		id, ok := strings.CutPrefix(host, src.prefix)
		if !ok {
			continue
		}
		size, ok := src.sizes[id]
		if !ok {
			return 0, fmt.Errorf("%w: disk item refers to %s, which %s", ErrMalformed, host, src.where)
		}
		return size, nil
	}
	return 0, fmt.Errorf("%w: disk HostResource %q is neither ovf:/disk/ nor ovf:/file/", ErrMalformed, host)
}

// unitMultiplier evaluates a DMTF programmatic unit (DSP0004 annex C) such
// as "byte * 2^20" or "hertz * 10^6" against the expected base unit, and
// the common non-standard spellings ("MB", "MegaBytes", "GB", ...). An
// empty unit is the base unit.
func unitMultiplier(units, base string) (float64, error) {
	u := strings.TrimSpace(units)
	if u == "" {
		return 1, nil
	}
	if m, ok := namedUnits[base][strings.ToLower(u)]; ok {
		return m, nil
	}
	r := new(big.Rat).SetInt64(1)
	sawBase := false
	for _, f := range strings.Split(u, "*") {
		f = strings.TrimSpace(f)
		switch {
		case strings.EqualFold(f, base) || strings.EqualFold(f, base+"s"):
			sawBase = true
		case strings.Contains(f, "^"):
			b, e, _ := strings.Cut(f, "^")
			bi, err1 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
			ei, err2 := strconv.ParseInt(strings.TrimSpace(e), 10, 64)
			if err1 != nil || err2 != nil || bi < 2 || ei < -30 || ei > 80 {
				return 0, fmt.Errorf("unit %q: bad factor %q", units, f)
			}
			p := new(big.Int).Exp(big.NewInt(bi), big.NewInt(abs(ei)), nil)
			if ei < 0 {
				r.Quo(r, new(big.Rat).SetInt(p))
			} else {
				r.Mul(r, new(big.Rat).SetInt(p))
			}
		default:
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("unit %q is not a multiple of %s", units, base)
			}
			r.Mul(r, new(big.Rat).SetInt64(n))
		}
	}
	if !sawBase {
		return 0, fmt.Errorf("unit %q is not a multiple of %s", units, base)
	}
	f, _ := r.Float64()
	return f, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

var namedUnits = map[string]map[string]float64{
	"byte": {
		"kb": 1 << 10, "kilobytes": 1 << 10, "kib": 1 << 10,
		"mb": 1 << 20, "megabytes": 1 << 20, "mib": 1 << 20,
		"gb": 1 << 30, "gigabytes": 1 << 30, "gib": 1 << 30,
		"tb": 1 << 40, "terabytes": 1 << 40, "tib": 1 << 40,
	},
	"hertz": {
		"hz": 1, "khz": 1e3, "mhz": 1e6, "ghz": 1e9,
	},
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
