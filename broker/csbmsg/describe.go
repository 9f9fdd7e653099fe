package csbmsg

import "fmt"

// Sizes sums up what an IaaS element asks for or offers, in a few words
// each: "2 cores", "4 GB memory", "3 GHz", the architecture, "20 GB
// storage", in that order, for the fields that are set. The CLI and the
// console show requests, grants and offers with it.
func (i *IaaS) Sizes() []string {
	if i == nil {
		return nil
	}
	var out []string
	if c := i.Compute; c != nil {
		if c.Cores != nil {
			out = append(out, fmt.Sprintf("%d cores", *c.Cores))
		}
		if c.Memory != nil {
			out = append(out, fmt.Sprintf("%d GB memory", *c.Memory))
		}
		if c.Speed != nil {
			out = append(out, fmt.Sprintf("%d GHz", *c.Speed))
		}
		if c.Architecture != nil {
			out = append(out, *c.Architecture)
		}
	}
	if s := i.Storage; s != nil && s.Size != nil {
		out = append(out, fmt.Sprintf("%d GB storage", *s.Size))
	}
	return out
}
