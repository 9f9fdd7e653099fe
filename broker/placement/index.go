package placement

import (
	"math/bits"
	"sort"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// kindIndex is the index of one service model at one catalogue version.
type kindIndex struct {
	kind    catalog.Kind
	version uint64
	groups  []group // one per provider offering the kind, in configuration order
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
	// PaaS/SaaS/DSaaS: the first service per Link rel, and the first of all.
	byRel map[string]*svc
	first *svc
}

type sigEntry struct {
	id      string
	updated int64
}

// capList is a list of IaaS services sorted by (cores, memory, speed, size)
// with suffix maxima, so a search can stop as soon as no later service
// could meet a minimum.
type capList struct {
	s                         []*svc
	sufMem, sufSpeed, sufSize []uint64
}

func newCapList(s []*svc) *capList {
	sort.SliceStable(s, func(a, b int) bool {
		x, y := s[a], s[b]
		switch {
		case x.cores != y.cores:
			return x.cores < y.cores
		case x.mem != y.mem:
			return x.mem < y.mem
		case x.speed != y.speed:
			return x.speed < y.speed
		}
		return x.size < y.size
	})
	n := len(s)
	l := &capList{s: s, sufMem: make([]uint64, n+1), sufSpeed: make([]uint64, n+1), sufSize: make([]uint64, n+1)}
	for i := n - 1; i >= 0; i-- {
		l.sufMem[i] = max(l.sufMem[i+1], s[i].mem)
		l.sufSpeed[i] = max(l.sufSpeed[i+1], s[i].speed)
		l.sufSize[i] = max(l.sufSize[i+1], s[i].size)
	}
	return l
}

// find returns the smallest service of the list that satisfies w, or the
// reason none does.
func (l *capList) find(w *want) (*svc, rejection) {
	n := len(l.s)
	if n == 0 {
		return nil, rejection{code: rejEmpty}
	}
	lo := sort.Search(n, func(i int) bool { return l.s[i].cores >= w.cores })
	if lo == n {
		return nil, rejection{code: rejMin, field: "cores", want: w.cores, have: l.s[n-1].cores}
	}
	var first rejection
	for i := lo; i < n; i++ {
		if l.sufMem[i] < w.mem {
			if i == lo {
				return nil, rejection{code: rejMinCombined, field: "memory", want: w.mem, have: l.sufMem[lo]}
			}
			break
		}
		if l.sufSpeed[i] < w.speed {
			if i == lo {
				return nil, rejection{code: rejMinCombined, field: "speed", want: w.speed, have: l.sufSpeed[lo]}
			}
			break
		}
		if l.sufSize[i] < w.size {
			if i == lo {
				return nil, rejection{code: rejMinCombined, field: "storage size", want: w.size, have: l.sufSize[lo]}
			}
			break
		}
		rej, ok := l.s[i].check(w)
		if ok {
			return l.s[i], rejection{}
		}
		if first.code == rejNone {
			first = rej
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
			sig[k] = sigEntry{id: entries[i].Service.ID, updated: entries[i].UpdatedAt.UnixNano()}
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
