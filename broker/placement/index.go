package placement

import (
	"math/bits"
	"sort"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// kindIndex is the index of one service model at one catalogue version.
type kindIndex struct {
	kind    catalog.Kind
	version uint64
	groups  []group // one per provider offering the kind, in configuration order
	memo    findMemo
}

// group holds one provider's services of one kind.
type group struct {
	id         string
	order      int
	encryption bool
	label      string
	price      float64
	hasPrice   bool

	// sig identifies the provider's service list, to reuse the group when
	// the catalogue changes elsewhere.
	sig []sigEntry

	// IaaS: every service, and per architecture, sorted by capacity.
	all    capList
	byArch map[string]*capList
	// DSaaS: the first service (catalogue order) per supported-object
	// mask, and per mask and Link rel.
	byMask    [32]*svc
	byMaskRel [32]map[string]*svc
	// dsaas: every DSaaS service in catalogue order, for the rare request
	// that names a CapabilityObject type (scanned, not indexed).
	dsaas []*svc
	// PaaS/SaaS/DSaaS: the first service per Link rel, and the first of all.
	byRel map[string]*svc
	first *svc
}

// sigEntry identifies one service of a group's list. The update time
// alone does not: the catalogue stamps a change with its clock's reading,
// and two changes of a service can share one (a stopped test clock, a
// coarse wall clock). The service's model element does: the catalogue
// replaces a changed service with the content of the notification (or
// configuration, or discovery) that changed it, and keeps the entry, with
// its element, when nothing changed (ApplyNotification's callers must not
// modify what they pass).
type sigEntry struct {
	id      string
	updated int64
	iaas    *csbmsg.IaaS
	paas    *csbmsg.PaaS
	saas    *csbmsg.SaaS
	dsaas   *csbmsg.DSaaS
}

// capList indexes IaaS services for minimum queries. Services are grouped
// into shapes (cores, memory, speed and the set of -support elements);
// shapes are sorted by capacity with suffix maxima, and each shape's
// services by storage size. A query binary-searches the first shape with
// enough cores, walks the shapes while the suffix maxima can still meet
// the minimums, and binary-searches the size within each fitting shape:
// the services it checks one by one are only those of fitting shapes and
// sizes, for the constraints that are not minimums (vlan, VLANlabel,
// allocation).
type capList struct {
	shapes           []shape
	sufMem, sufSpeed []uint64
	// bandEnd[i] is the index of the first shape with more cores than
	// shape i: the shapes of one core count form a band sorted by memory,
	// which find enters at the first shape with enough memory.
	bandEnd []int
	n       int
}

type shape struct {
	cores, mem, speed uint64
	feats             uint8
	maxSize           uint64
	list              []*svc // sorted by size, then catalogue order
}

const (
	featCompute uint8 = 1 << iota
	featNetwork
	featStorage
	featNI
	featSL
)

type shapeKey struct {
	cores, mem, speed uint64
	feats             uint8
}

func newCapList(s []*svc) *capList {
	byShape := map[shapeKey][]*svc{}
	for _, x := range s {
		k := shapeKey{x.cores, x.mem, x.speed, x.feats()}
		byShape[k] = append(byShape[k], x)
	}
	l := &capList{n: len(s), shapes: make([]shape, 0, len(byShape))}
	for k, list := range byShape {
		sort.SliceStable(list, func(a, b int) bool { return list[a].size < list[b].size })
		l.shapes = append(l.shapes, shape{cores: k.cores, mem: k.mem, speed: k.speed, feats: k.feats, maxSize: list[len(list)-1].size, list: list})
	}
	sort.Slice(l.shapes, func(a, b int) bool {
		x, y := &l.shapes[a], &l.shapes[b]
		switch {
		case x.cores != y.cores:
			return x.cores < y.cores
		case x.mem != y.mem:
			return x.mem < y.mem
		case x.speed != y.speed:
			return x.speed < y.speed
		}
		return x.feats < y.feats
	})
	n := len(l.shapes)
	l.sufMem, l.sufSpeed, l.bandEnd = make([]uint64, n+1), make([]uint64, n+1), make([]int, n)
	for i := n - 1; i >= 0; i-- {
		l.sufMem[i] = max(l.sufMem[i+1], l.shapes[i].mem)
		l.sufSpeed[i] = max(l.sufSpeed[i+1], l.shapes[i].speed)
		l.bandEnd[i] = n
		if i+1 < n && l.shapes[i+1].cores == l.shapes[i].cores {
			l.bandEnd[i] = l.bandEnd[i+1]
		} else if i+1 < n {
			l.bandEnd[i] = i + 1
		}
	}
	return l
}

// lowerBound returns the first index of [lo, hi) for which below is
// false, or hi; below must be true up to some index and false after it.
// It is sort.Search over a sub-range, kept small enough to be inlined
// with its callback.
func lowerBound(lo, hi int, below func(i int) bool) int {
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if below(m) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find returns the smallest service of the list that satisfies w, or the
// reason none does.
func (l *capList) find(w *want) (*svc, rejection) {
	n := len(l.shapes)
	if n == 0 {
		return nil, rejection{code: rejEmpty}
	}
	// The first shape with enough cores.
	lo := lowerBound(0, n, func(i int) bool { return l.shapes[i].cores < w.cores })
	if lo == n {
		return nil, rejection{code: rejMin, field: "cores", want: w.cores, have: l.shapes[n-1].cores}
	}
	if l.sufMem[lo] < w.mem {
		return nil, rejection{code: rejMinCombined, field: "memory", want: w.mem, have: l.sufMem[lo]}
	}
	if l.sufSpeed[lo] < w.speed {
		return nil, rejection{code: rejMinCombined, field: "speed", want: w.speed, have: l.sufSpeed[lo]}
	}
	wf := w.feats()
	var first rejection
	for i := lo; i < n; i++ {
		if l.sufMem[i] < w.mem || l.sufSpeed[i] < w.speed {
			break
		}
		sh := &l.shapes[i]
		if sh.mem < w.mem || sh.speed < w.speed || sh.feats&wf != wf || sh.maxSize < w.size {
			if first.code == rejNone {
				first, _ = sh.list[len(sh.list)-1].check(w)
			}
			if sh.mem < w.mem {
				// Skip the band's shapes with too little memory: the
				// next one with enough (or the next band).
				i = lowerBound(i+1, l.bandEnd[i], func(j int) bool { return l.shapes[j].mem < w.mem }) - 1
			}
			continue
		}
		// The services from the first with enough storage.
		k := lowerBound(0, len(sh.list), func(j int) bool { return sh.list[j].size < w.size })
		for ; k < len(sh.list); k++ {
			rej, ok := sh.list[k].check(w)
			if ok {
				return sh.list[k], rejection{}
			}
			if first.code == rejNone {
				first = rej
			}
		}
	}
	if first.code == rejNone {
		return nil, rejection{code: rejEmpty}
	}
	return nil, first
}

// find returns the provider's best-fitting service for w.
func (g *group) find(w *want) (*svc, rejection) {
	switch w.kind {
	case catalog.KindIaaS:
		l := &g.all
		if w.arch != "" {
			l = g.byArch[w.arch]
			if l == nil {
				var have []string
				for a := range g.byArch {
					have = append(have, a)
				}
				sort.Strings(have)
				hs := ""
				for i, a := range have {
					if i > 0 {
						hs += ", "
					}
					if a == "" {
						a = "(unstated)"
					}
					hs += a
				}
				return nil, rejection{code: rejArch, wantS: w.arch, haveS: hs}
			}
		}
		return l.find(w)
	case catalog.KindDSaaS:
		if w.capType != "" {
			return g.findCapType(w)
		}
		var all uint8
		for _, m := range masksBySize {
			if g.byMask[m] == nil {
				continue
			}
			all |= uint8(m)
			if uint8(m)&w.objects != w.objects {
				continue
			}
			if w.rel == "" {
				return g.byMask[m], rejection{}
			}
			if s := g.byMaskRel[m][w.rel]; s != nil {
				return s, rejection{}
			}
		}
		if missing := w.objects &^ all; missing != 0 {
			return nil, rejection{code: rejObject, field: objList(missing)}
		}
		if w.rel != "" {
			return nil, rejection{code: rejRel, wantS: w.rel}
		}
		return nil, rejection{code: rejObject, field: objList(w.objects) + " together"}
	default: // PaaS, SaaS
		if w.rel == "" {
			if g.first == nil {
				return nil, rejection{code: rejEmpty}
			}
			return g.first, rejection{}
		}
		if s := g.byRel[w.rel]; s != nil {
			return s, rejection{}
		}
		return nil, rejection{code: rejRel, wantS: w.rel}
	}
}

// findCapType is the DSaaS find for a request that names a
// CapabilityObject type: the first service, in catalogue order, of the
// narrowest support set that passes every rule.
func (g *group) findCapType(w *want) (*svc, rejection) {
	var first rejection
	for _, m := range masksBySize {
		for _, s := range g.dsaas {
			if s.objects != m {
				continue
			}
			rej, ok := s.check(w)
			if ok {
				return s, rejection{}
			}
			if first.code == rejNone || (first.code == rejObject && rej.code != rejObject) {
				first = rej
			}
		}
	}
	if first.code == rejNone {
		return nil, rejection{code: rejEmpty}
	}
	return nil, first
}

// masksBySize lists the 32 DSaaS support sets, narrowest first, so the
// narrowest support set that covers a request is found first.
var masksBySize = func() [32]uint8 {
	var ms [32]uint8
	for i := range ms {
		ms[i] = uint8(i)
	}
	sort.SliceStable(ms[:], func(a, b int) bool { return bits.OnesCount8(ms[a]) < bits.OnesCount8(ms[b]) })
	return ms
}()

// index returns the current index of kind, rebuilding it when the
// catalogue version moved on.
func (p *Placer) index(kind catalog.Kind) *kindIndex {
	v := p.cat.Version()
	p.mu.RLock()
	idx := p.indexes[kind]
	p.mu.RUnlock()
	if idx != nil && idx.version == v {
		return idx
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	idx = p.indexes[kind]
	if idx != nil && idx.version == v {
		return idx
	}
	idx = p.rebuild(kind, v, idx)
	p.indexes[kind] = idx
	return idx
}

// rebuild builds the index of kind at version v, reusing the groups of
// the previous index whose service lists did not change.
func (p *Placer) rebuild(kind catalog.Kind, v uint64, prev *kindIndex) *kindIndex {
	entries := p.cat.Placeable(kind)
	reuse := map[string]*group{}
	if prev != nil {
		for i := range prev.groups {
			reuse[prev.groups[i].id] = &prev.groups[i]
		}
	}
	pos := map[string]int{}
	// Placeable is sorted by provider, so each provider is one run; be
	// robust to an unsorted source anyway by collecting per provider.
	perProv := map[string][]int{}
	var firstSeen []string
	for i := range entries {
		id := entries[i].ProviderID
		if _, ok := perProv[id]; !ok {
			firstSeen = append(firstSeen, id)
			pos[id] = len(firstSeen) - 1
		}
		perProv[id] = append(perProv[id], i)
	}
	idx := &kindIndex{kind: kind, version: v, groups: make([]group, 0, len(firstSeen))}
	for _, id := range firstSeen {
		list := perProv[id]
		pe, _ := p.cat.Provider(id)
		sig := make([]sigEntry, len(list))
		for k, i := range list {
			sv := &entries[i].Service
			sig[k] = sigEntry{id: sv.ID, updated: entries[i].UpdatedAt.UnixNano(), iaas: sv.IaaS, paas: sv.PaaS, saas: sv.SaaS, dsaas: sv.DSaaS}
		}
		order, ok := p.order[id]
		if !ok {
			order = len(p.order) + pos[id]
		}
		var g group
		if old := reuse[id]; old != nil && sameSig(old.sig, sig) {
			g = *old
		} else {
			g = buildGroup(kind, entries, list)
			g.sig = sig
		}
		g.id, g.order = id, order
		g.encryption = pe.EncryptionSupport != nil && *pe.EncryptionSupport
		g.label = pe.Label
		g.price, g.hasPrice = ParsePriceLabel(pe.Label)
		idx.groups = append(idx.groups, g)
	}
	sort.SliceStable(idx.groups, func(a, b int) bool { return idx.groups[a].order < idx.groups[b].order })
	return idx
}

func sameSig(a, b []sigEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func buildGroup(kind catalog.Kind, entries []catalog.ServiceEntry, list []int) group {
	var g group
	svcs := make([]*svc, len(list))
	for k, i := range list {
		e := entries[i] // copy: the index must not alias the catalogue's slice
		svcs[k] = newSvc(&e)
	}
	switch kind {
	case catalog.KindIaaS:
		byArch := map[string][]*svc{}
		for _, s := range svcs {
			byArch[s.arch] = append(byArch[s.arch], s)
		}
		g.all = *newCapList(append([]*svc(nil), svcs...))
		g.byArch = make(map[string]*capList, len(byArch))
		for a, l := range byArch {
			g.byArch[a] = newCapList(l)
		}
	default:
		g.byRel = map[string]*svc{}
		for _, s := range svcs {
			if g.first == nil {
				g.first = s
			}
			if kind == catalog.KindDSaaS {
				g.dsaas = append(g.dsaas, s)
				if g.byMask[s.objects] == nil {
					g.byMask[s.objects] = s
					g.byMaskRel[s.objects] = map[string]*svc{}
				}
				if _, ok := g.byMaskRel[s.objects][s.rel]; !ok {
					g.byMaskRel[s.objects][s.rel] = s
				}
			}
			if _, ok := g.byRel[s.rel]; !ok {
				g.byRel[s.rel] = s
			}
		}
	}
	return g
}
