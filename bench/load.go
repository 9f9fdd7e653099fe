package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// variant is one side of a comparison: how to make request i of worker w
// and how to check its answer.
type variant struct {
	name   string
	client *http.Client
	// request returns request i (0-based within the phase) of worker w.
	request func(w, i int) (*http.Request, error)
	// raw, when set instead of client and request, appends the complete
	// HTTP/1.1 request i of worker w (request line, header, body) to buf
	// and returns it; the requests go over conns, the raw client (see
	// rawConns).
	raw   func(w, i int, buf []byte) []byte
	conns *rawConns
	// check validates an answer; nil accepts any HTTP 200.
	check func(resp *http.Response, body []byte) error
	// prepare, when set, runs before each phase of n requests, outside
	// the timing.
	prepare func(n int) error
}

// phase is the outcome of n requests of one variant.
type phase struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (p phase) rate() float64 { return float64(p.n) / p.elapsed.Seconds() }

// runPhase makes n requests of v over conc keep-alive workers, each
// waiting for its answer before sending the next (closed loop), with v's
// client or, for a raw variant, one connection of v.conns per worker. It
// stops at the first failed request and gives up after limit.
func runPhase(v variant, n, conc int, limit time.Duration) (phase, error) {
	if v.prepare != nil {
		if err := v.prepare(n); err != nil {
			return phase{}, fmt.Errorf("%s: %w", v.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var next atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, conc)
	if v.raw != nil {
		if v.conns == nil {
			return phase{}, fmt.Errorf("%s: a raw variant without connections", v.name)
		}
		v.conns.ensure(conc)
		// A cancelled phase closes the connections, so that workers
		// waiting for an answer return.
		stop := context.AfterFunc(ctx, v.conns.closeAll)
		defer func() {
			if !stop() {
				v.conns.reset()
			}
		}()
	}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := new(bytes.Buffer)
			own := make([]time.Duration, 0, n/conc+1)
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					break
				}
				var (
					resp *http.Response
					body []byte
					lat  time.Duration
					err  error
				)
				if v.raw != nil {
					resp, body, lat, err = v.conns.do(w, i, v.raw)
				} else {
					var req *http.Request
					if req, err = v.request(w, i); err != nil {
						firstErr.CompareAndSwap(nil, err)
						cancel()
						break
					}
					t0 := time.Now()
					resp, err = v.client.Do(req.WithContext(ctx))
					if err == nil {
						buf.Reset()
						_, err = buf.ReadFrom(resp.Body)
						resp.Body.Close()
						body = buf.Bytes()
					}
					lat = time.Since(t0)
				}
				own = append(own, lat)
				if err == nil {
					if v.check != nil {
						err = v.check(resp, body)
					} else if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
					}
				}
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", v.name, err))
					}
					cancel()
					break
				}
			}
			lats[w] = own
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return phase{}, err
	}
	if int(next.Load()) < n {
		return phase{}, fmt.Errorf("%s: %d of %d requests in %s, the phase's time limit", v.name, next.Load(), n, limit)
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return phase{n: n, elapsed: elapsed, lat: all}, nil
}

// comparison is the outcome of alternating rounds of two variants.
type comparison struct {
	base, subject         float64 // median rates, requests/s
	ratio                 float64 // median of the rounds' subject/base ratios
	baseP99, subjectP99   time.Duration
	baseRates, subjRates  []float64
	rounds, perPhase, con int
}

// compare runs a warm-up phase of each variant, then rounds of both in
// alternating order, so that drift in a shared machine's load affects
// both sides of each round alike. The ratio is the median of the rounds'
// ratios.
func compare(base, subject variant, rounds, n, conc int, limit time.Duration, between func() error) (comparison, error) {
	c := comparison{rounds: rounds, perPhase: n, con: conc}
	for _, v := range []variant{base, subject} {
		if _, err := runPhase(v, max(n/5, conc), conc, limit); err != nil {
			return c, fmt.Errorf("warm-up: %w", err)
		}
	}
	var ratios []float64
	var bl, sl []time.Duration
	for r := 0; r < rounds; r++ {
		order := []variant{base, subject}
		if r%2 == 1 {
			order = []variant{subject, base}
		}
		var br, sr float64
		for _, v := range order {
			if between != nil {
				if err := between(); err != nil {
					return c, err
				}
			}
			p, err := runPhase(v, n, conc, limit)
			if err != nil {
				return c, err
			}
			if v.name == base.name {
				br, bl = p.rate(), append(bl, p.lat...)
			} else {
				sr, sl = p.rate(), append(sl, p.lat...)
			}
		}
		c.baseRates, c.subjRates = append(c.baseRates, br), append(c.subjRates, sr)
		ratios = append(ratios, sr/br)
	}
	c.base, c.subject, c.ratio = median(c.baseRates), median(c.subjRates), median(ratios)
	c.baseP99, c.subjectP99 = percentile(bl, 0.99), percentile(sl, 0.99)
	return c, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)) * q)
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// newClient returns a client whose transport keeps conc connections to
// one host alive.
func newClient(conc int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conc * 2,
			MaxIdleConnsPerHost: conc * 2,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
}
