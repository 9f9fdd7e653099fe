// Package durparam reads the durations clients send in request
// parameters (a job's lease, a long-poll's wait): a positive Go duration
// ("90m") or a positive whole number of seconds ("5400"). Each front-end
// words its own refusal.
package durparam

import (
	"strconv"
	"time"
)

// Parse reads v as whole seconds (at most 2³²−1) or a Go duration; ok is
// false unless the duration is positive.
func Parse(v string) (d time.Duration, ok bool) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil && n > 0 {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}
