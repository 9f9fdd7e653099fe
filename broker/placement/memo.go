package placement

import (
	"sync"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

// The find memo: what each provider's index answers for one request
// shape, kept for the catalogue version the index was built at.
//
// A decision asks every provider's index for its best fit (group.find),
// which costs with the number of services and shapes a provider offers.
// Requests repeat their shapes (the flavours a portal or a template
// offers), and at one catalogue version the same shape gets the same
// answers: the memo keeps them, so that a repeated shape costs a lookup
// whatever the catalogue's size. Access lists, exclusions, prices, the
// encryption check and the policy's scores are per request and are not
// memoised. The memo belongs to one kindIndex and goes with it when the
// catalogue changes.

// memoBudget bounds the answers a memo keeps (shapes × providers): about
// answerBytes each, so at most a few MiB per service model. A variable so
// that the benchmark can measure decisions with the memo off (0).
var memoBudget = 1 << 16

// answerBytes is about what one answer of the memo costs. A key's strings
// are charged in these units too: they come from the request and may each
// be as long as the codec's text limit (64 KiB), so counting a shape as
// its answers alone would let a consumer with a new long architecture per
// request fill gigabytes under the budget.
const answerBytes = 100

// cost is what memoising res for w charges the budget.
func (w *want) cost(answers int) int {
	return answers + (len(w.arch)+len(w.vlan)+len(w.vlanLabel)+len(w.alloc)+len(w.capType)+len(w.rel))/answerBytes
}

// found is one provider's answer for a shape; id and entry are the
// service's, copied so that a decision need not read the service itself
// (at a hundred thousand services it is rarely in the CPU's cache).
type found struct {
	s     *svc
	id    string
	entry *catalog.ServiceEntry
	rej   rejection
}

type findMemo struct {
	mu   sync.RWMutex
	m    map[want][]found
	used int
}

// finds returns every group's answer for w, from the memo or computed.
func (idx *kindIndex) finds(w *want) []found {
	idx.memo.mu.RLock()
	res, ok := idx.memo.m[*w]
	idx.memo.mu.RUnlock()
	if ok {
		return res
	}
	res = make([]found, len(idx.groups))
	for i := range idx.groups {
		res[i].s, res[i].rej = idx.groups[i].find(w)
		if s := res[i].s; s != nil {
			res[i].id, res[i].entry = s.id, s.entry
		}
	}
	idx.memo.mu.Lock()
	if cost := w.cost(len(res)); idx.memo.used+cost <= memoBudget {
		if idx.memo.m == nil {
			idx.memo.m = map[want][]found{}
		}
		if _, dup := idx.memo.m[*w]; !dup {
			idx.memo.m[*w] = res
			idx.memo.used += cost
		}
	}
	idx.memo.mu.Unlock()
	return res
}
