package placement

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Input is what a policy ranks: the candidates of one decision.
type Input struct {
	Request *csbmsg.ServiceRequest
	Kind    catalog.Kind
	// Candidates are every provider considered, in configuration order.
	Candidates []Candidate
	// Matched holds the indices of the matching candidates, in
	// configuration order.
	Matched []int
	// Load reports provider load.
	Load LoadFunc
}

// Policy ranks matching candidates. Score must set Score on every matched
// candidate: lower ranks first, equal scores rank by configuration order.
// Policies with state (rotation, weights, random source) must be safe for
// concurrent use.
type Policy interface {
	// Name is the policy's name as configured (first, cheapest, ...).
	Name() string
	// Score sets the Score of every candidate in in.Matched.
	Score(in *Input)
	// Note explains a matched candidate's score in a few words.
	Note(c *Candidate) string
}

// DryScorer is implemented by policies that keep state between decisions
// (a rotation, weights already served, a random source). ScoreDry scores
// like Score would for the next decision, without moving that state, so a
// dry run (Options.DryRun, the admin API's explain) does not change what
// the next real decision chooses. Stateless policies need not implement
// it: their Score is used.
type DryScorer interface {
	ScoreDry(in *Input)
}

// Settler is implemented by policies whose state moves with each
// decision by the candidate ranked first (RoundRobin's rotation). When
// that candidate's create fails and the job goes to a later one
// (substitution), Settle moves the state as if in.Candidates[took]
// had been ranked first instead of in.Candidates[first]: otherwise the
// provider after one that keeps failing gets its own share and the
// failing one's. in.Matched holds the candidates Score ranked. The job
// manager calls it through Decision.Placed.
type Settler interface {
	Settle(in *Input, first, took int)
}

// First ranks candidates in provider configuration order.
type First struct{}

// Name implements Policy.
func (First) Name() string { return "first" }

// Score implements Policy.
func (First) Score(in *Input) {
	for _, i := range in.Matched {
		in.Candidates[i].Score = float64(in.Candidates[i].Order)
	}
}

// Note implements Policy.
func (First) Note(c *Candidate) string { return fmt.Sprintf("configuration order %d", c.Order+1) }

// RoundRobin rotates through the matching providers in configuration
// order: each decision starts after the provider the previous decision
// chose.
type RoundRobin struct {
	mu   sync.Mutex
	last int // Order of the last chosen provider; -1 at first
	init bool
}

// Name implements Policy.
func (*RoundRobin) Name() string { return "round_robin" }

// Score implements Policy.
func (r *RoundRobin) Score(in *Input) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.init {
		r.last, r.init = -1, true
	}
	r.last = r.score(in, r.last)
}

// ScoreDry implements DryScorer: the ranking the next decision would get,
// without moving the rotation.
func (r *RoundRobin) ScoreDry(in *Input) {
	r.mu.Lock()
	last := r.last
	if !r.init {
		last = -1
	}
	r.mu.Unlock()
	r.score(in, last)
}

// score ranks in.Matched starting after the provider with Order last and
// returns the Order of the one ranked first.
func (*RoundRobin) score(in *Input, last int) int {
	n := len(in.Matched)
	start := 0
	for k, i := range in.Matched {
		if in.Candidates[i].Order > last {
			start = k
			break
		}
		if k == n-1 {
			start = 0
		}
	}
	for k, i := range in.Matched {
		in.Candidates[i].Score = float64((k - start + n) % n)
	}
	return in.Candidates[in.Matched[start]].Order
}

// Settle implements Settler: the next decision starts after the provider
// that took the job. A rotation another decision moved meanwhile is left
// alone: that decision started after it already.
func (r *RoundRobin) Settle(in *Input, first, took int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.init && r.last == in.Candidates[first].Order {
		r.last = in.Candidates[took].Order
	}
}

// Note implements Policy.
func (*RoundRobin) Note(c *Candidate) string {
	if c.Score == 0 {
		return "next in rotation"
	}
	return fmt.Sprintf("%d after the next in rotation", int(c.Score))
}

// Random ranks candidates in a random order drawn from its source.
type Random struct {
	mu sync.Mutex
	// src is the PCG behind rng: rand.Rand keeps no state of its own, so
	// a copy of src draws what rng would draw next.
	src *rand.PCG
	rng *rand.Rand
}

// NewRandom returns a Random policy whose draws are determined by seed.
func NewRandom(seed uint64) *Random {
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	return &Random{src: src, rng: rand.New(src)}
}

// Name implements Policy.
func (*Random) Name() string { return "random" }

// init seeds an unseeded Random. Callers hold r.mu.
func (r *Random) init() {
	if r.rng == nil {
		r.src = rand.NewPCG(rand.Uint64(), rand.Uint64())
		r.rng = rand.New(r.src)
	}
}

// Score implements Policy.
func (r *Random) Score(in *Input) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	for _, i := range in.Matched {
		in.Candidates[i].Score = r.rng.Float64()
	}
}

// ScoreDry implements DryScorer: the draws the next decision would get,
// from a copy of the source, so that an explanation names the provider
// the next create over the same candidates would try first, and the
// sequence of real decisions is not disturbed.
func (r *Random) ScoreDry(in *Input) {
	r.mu.Lock()
	r.init()
	src := *r.src
	r.mu.Unlock()
	rng := rand.New(&src)
	for _, i := range in.Matched {
		in.Candidates[i].Score = rng.Float64()
	}
}

// Note implements Policy.
func (*Random) Note(c *Candidate) string { return fmt.Sprintf("random draw %.3f", c.Score) }

// LeastLoaded ranks candidates by their current load: live jobs (By
// "jobs", the default) or committed capacity (By "capacity": committed
// cores + memory GB + storage GB).
type LeastLoaded struct {
	By string
}

// Name implements Policy.
func (*LeastLoaded) Name() string { return "least_loaded" }

// Score implements Policy.
func (l *LeastLoaded) Score(in *Input) {
	for _, i := range in.Matched {
		ld := in.Load(in.Candidates[i].ProviderID)
		if l.By == "capacity" {
			in.Candidates[i].Score = float64(ld.Cores + ld.MemoryGB + ld.StorageGB)
		} else {
			in.Candidates[i].Score = float64(ld.Jobs)
		}
	}
}

// Note implements Policy.
func (l *LeastLoaded) Note(c *Candidate) string {
	if l.By == "capacity" {
		return fmt.Sprintf("%d committed units (cores + memory GB + storage GB)", int64(c.Score))
	}
	return fmt.Sprintf("%d live jobs", int64(c.Score))
}

// Weighted spreads decisions over the matching providers in proportion to
// their weights, with the smooth weighted round-robin of nginx: the
// sequence is deterministic and interleaved (weights 5,1,1 give
// a a b a c a a). Providers without a weight weigh 1; weight 0 ranks a
// provider last.
type Weighted struct {
	Weights map[string]int

	mu      sync.Mutex
	current map[string]int
}

// Name implements Policy.
func (*Weighted) Name() string { return "weighted" }

func (w *Weighted) weight(id string) int {
	if v, ok := w.Weights[id]; ok {
		return v
	}
	return 1
}

// Score implements Policy.
func (w *Weighted) Score(in *Input) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current == nil {
		w.current = map[string]int{}
	}
	w.score(in, w.current)
}

// ScoreDry implements DryScorer: the ranking the next decision would get,
// computed on a copy of the served weights.
func (w *Weighted) ScoreDry(in *Input) {
	w.mu.Lock()
	current := make(map[string]int, len(w.current))
	for k, v := range w.current {
		current[k] = v
	}
	w.mu.Unlock()
	w.score(in, current)
}

// score runs one step of smooth weighted round-robin on current.
func (w *Weighted) score(in *Input, current map[string]int) {
	total, best := 0, -1
	for _, i := range in.Matched {
		id := in.Candidates[i].ProviderID
		wt := w.weight(id)
		if wt <= 0 {
			continue
		}
		current[id] += wt
		total += wt
		if best < 0 || current[id] > current[in.Candidates[best].ProviderID] {
			best = i
		}
	}
	if best >= 0 {
		current[in.Candidates[best].ProviderID] -= total
	}
	for _, i := range in.Matched {
		c := &in.Candidates[i]
		switch wt := w.weight(c.ProviderID); {
		case i == best:
			c.Score = 0
		case wt <= 0:
			c.Score = math.Inf(1)
		default:
			// The others follow by weight, heaviest first.
			c.Score = 1 / float64(wt)
		}
	}
}

// Note implements Policy.
func (w *Weighted) Note(c *Candidate) string {
	return fmt.Sprintf("weight %d", w.weight(c.ProviderID))
}

// Cheapest ranks candidates by price, lowest first. A candidate's price is
// the first known of: Prices["<provider>/<service>"], Prices["<provider>"]
// (both from configuration), and the price in the provider's notification
// label (see ParsePriceLabel). Candidates without a price rank last.
type Cheapest struct {
	Prices map[string]float64
}

// Name implements Policy.
func (*Cheapest) Name() string { return "cheapest" }

// Price returns a candidate's price and where it came from.
func (ch *Cheapest) Price(c *Candidate) (float64, string, bool) {
	if len(ch.Prices) > 0 {
		if p, ok := ch.Prices[c.ProviderID+"/"+c.ServiceID]; ok {
			return p, "configured service price", true
		}
		if p, ok := ch.Prices[c.ProviderID]; ok {
			return p, "configured provider price", true
		}
	}
	if c.HasLabelPrice {
		return c.LabelPrice, "label price", true
	}
	return 0, "", false
}

// Score implements Policy.
func (ch *Cheapest) Score(in *Input) {
	for _, i := range in.Matched {
		c := &in.Candidates[i]
		if p, _, ok := ch.Price(c); ok {
			c.Score = p
		} else {
			c.Score = math.Inf(1)
		}
	}
}

// Note implements Policy.
func (ch *Cheapest) Note(c *Candidate) string {
	p, src, ok := ch.Price(c)
	if !ok {
		return "no price known"
	}
	return fmt.Sprintf("%s %s", src, strconv.FormatFloat(p, 'f', -1, 64))
}

// ParsePriceLabel reads a price from a provider's notification <label>.
// The label is an NMTOKEN, so the canonical form is "price:<decimal>"
// (for example "price:0.12"); it may stand among other items, separated by
// any character that is not a letter or digit ("gold.price:0.12",
// "price:0.12_eu"). "price=<decimal>" is accepted too, although it is not
// an NMTOKEN. The decimal may carry an exponent ("price:1.5e-3", also an
// NMTOKEN). A number that runs on into letters or digits it cannot hold
// ("price:1x5") is not a price: reading its first digits alone would rank
// and charge the provider at a price it did not publish.
func ParsePriceLabel(label string) (float64, bool) {
	for i := 0; i+6 <= len(label); i++ {
		if !strings.EqualFold(label[i:i+5], "price") || (label[i+5] != ':' && label[i+5] != '=') {
			continue
		}
		if i > 0 && isAlnum(label[i-1]) {
			continue
		}
		j := i + 6
		k := skipDigits(label, j)
		digits := k > j
		if k < len(label) && label[k] == '.' {
			f := skipDigits(label, k+1)
			digits = digits || f > k+1
			k = f
		}
		if !digits {
			continue
		}
		if k < len(label) && (label[k] == 'e' || label[k] == 'E') {
			e := k + 1
			if e < len(label) && (label[e] == '+' || label[e] == '-') {
				e++
			}
			if x := skipDigits(label, e); x > e {
				k = x
			}
		}
		if k < len(label) && isAlnum(label[k]) {
			continue
		}
		// ParseFloat refuses a value too large for a float64 (ErrRange,
		// +Inf), so the price is finite.
		v, err := strconv.ParseFloat(strings.TrimSuffix(label[j:k], "."), 64)
		if err != nil {
			continue
		}
		return v, true
	}
	return 0, false
}

// skipDigits returns the index of the first byte of s from i on that is
// not a decimal digit.
func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// Interface guards.
var (
	_ Policy = First{}
	_ Policy = (*RoundRobin)(nil)
	_ Policy = (*Random)(nil)
	_ Policy = (*LeastLoaded)(nil)
	_ Policy = (*Weighted)(nil)
	_ Policy = (*Cheapest)(nil)

	_ Settler = (*RoundRobin)(nil)
)
