// Package accept reads the media ranges of HTTP Accept headers (RFC 9110
// section 12.5.1) for the front-ends that pick an answer's format. It
// only parses: each caller ranks the ranges by its own formats and
// tie-breaks, which differ (CIMI prefers JSON, the cost export CSV).
package accept

import (
	"math"
	"mime"
	"strconv"
	"strings"
)

// Range is one media range of an Accept header and its quality.
type Range struct {
	// Type is the media type or range, lower case ("text/csv", "*/*").
	Type string
	// Q is the range's weight: 1 unless a q parameter gives another.
	Q float64
}

// Ranges returns the media ranges of the Accept header values, in order.
// A range that does not parse is left out; a q that does not parse
// counts as 1. A weight outside RFC 9110's qvalue (0 to 1) counts as the
// nearest end, and "NaN" (which strconv reads as a float) as 1: a NaN
// compares false with every weight, so a range carrying one was neither
// refused nor preferred, and "q=2" outranked every plain range.
func Ranges(values []string) []Range {
	var out []Range
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) {
					q = min(max(f, 0), 1)
				}
			}
			out = append(out, Range{Type: mt, Q: q})
		}
	}
	return out
}
