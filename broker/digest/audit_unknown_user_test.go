package digest

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestAuditUnknownUserSameWork (issue 6: "unknown users take the same time
// as known ones"): the benchmarks only print the two costs side by side.
// This test compares them: refusing an unknown user must cost about what
// refusing a known user with a wrong password costs (the response is
// computed against a dummy HA1), measured interleaved, as the median of
// many rounds, so a noisy machine slows both alike.
func TestAuditUnknownUserSameWork(t *testing.T) {
	for _, alg := range []Algorithm{MD5, SHA256, SHA512_256} {
		t.Run(alg.String(), func(t *testing.T) {
			f := newFixture(t, nil)
			unknown := f.base(t, alg)
			unknown.user = "mallory"
			wrong := f.base(t, alg)
			wrong.pass = "not wonderland"
			ru := Request{Method: "POST", URI: unknown.uri, Authorization: unknown.header()}
			rw := Request{Method: "POST", URI: wrong.uri, Authorization: wrong.header()}
			resU, resW := f.srv.Authenticate(ru), f.srv.Authenticate(rw)
			if resU.OK || resW.OK || resU.Stale != resW.Stale || !errors.Is(resU.Err, ErrUnknownUser) || !errors.Is(resW.Err, ErrResponse) {
				t.Fatalf("refusals: unknown %+v, wrong password %+v", resU, resW)
			}
			const rounds, per = 41, 400
			var ratios []float64
			for range rounds {
				t0 := time.Now()
				for range per {
					f.srv.Authenticate(ru)
				}
				tu := time.Since(t0)
				t0 = time.Now()
				for range per {
					f.srv.Authenticate(rw)
				}
				tw := time.Since(t0)
				ratios = append(ratios, float64(tu)/float64(tw))
			}
			slices.Sort(ratios)
			median := ratios[rounds/2]
			t.Logf("unknown user / wrong password, median of %d rounds: %.2f", rounds, median)
			if median < 0.8 || median > 1.25 {
				t.Fatalf("an unknown user costs %.2f× a wrong password: the two paths differ", median)
			}
		})
	}
}
