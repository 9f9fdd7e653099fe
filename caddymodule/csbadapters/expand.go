package csbadapters

import (
	"maps"
	"slices"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

// expandList returns a copy of list with the placeholders of each item
// expanded. A copy: the module's own configuration keeps its text.
func expandList(list []string) []string {
	out := slices.Clone(list)
	for i := range out {
		cfparse.ExpandAll(&out[i])
	}
	return out
}

// expandValues returns a copy of m with the placeholders of each value
// expanded (the keys are names the adapter matches, such as an
// architecture, not values that vary by deployment).
func expandValues(m map[string]string) map[string]string {
	out := maps.Clone(m)
	for k, v := range out {
		cfparse.ExpandAll(&v)
		out[k] = v
	}
	return out
}
