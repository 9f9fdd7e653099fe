package model

import (
	"fmt"
	"regexp"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// ComputeHonoured are the IaaS request fields both two-API adapters
// honour: a machine's cores, memory and architecture (the smallest
// fitting flavor or instance type, the image of the architecture), its
// hostname, its root storage size, and an interface in the configured
// network (NetworkInterface, none of its children).
var ComputeHonoured = contract.Fields(
	"IaaS/compute", "IaaS/compute/cores", "IaaS/compute/memory", "IaaS/compute/architecture", "IaaS/compute/hostname",
	"IaaS/storage", "IaaS/storage/size", "IaaS/NetworkInterface",
)

// Smallest returns the least of items that fits, by cmp: the smallest
// fitting flavor or instance type, cmp ordering by cores, then memory,
// then what else the provider's table has, down to a unique name or id.
// Of items cmp finds equal, the first in items wins (as after a stable
// sort). False when none fits.
func Smallest[T any](items []T, fits func(T) bool, cmp func(a, b T) int) (T, bool) {
	var best T
	found := false
	for _, it := range items {
		if fits(it) && (!found || cmp(it, best) < 0) {
			best, found = it, true
		}
	}
	return best, found
}

// Image picks the image a machine of architecture arch ("" for any)
// boots from: archImages[arch], else def, the configured default, which
// serves an architecture archImages lacks only when archImages is
// empty. noun names an image in the errors ("AMI"), unset what a missing
// default leaves without one ("instances (image_id)").
func Image(archImages map[string]string, def, arch, noun, unset string) (string, error) {
	if arch != "" {
		if img, ok := archImages[arch]; ok {
			return img, nil
		}
		if len(archImages) > 0 || def == "" {
			return "", &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: fmt.Errorf("no %s configured for architecture %q", noun, arch)}
		}
	}
	if def == "" {
		return "", &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: fmt.Errorf("no %s configured for %s", noun, unset)}
	}
	return def, nil
}

var nmtokenRE = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// NMToken returns s if it is an XML NMTOKEN of ASCII name characters
// (what a grant's NMTOKEN fields take from a native id), else nil.
func NMToken(s string) *string {
	if nmtokenRE.MatchString(s) {
		return &s
	}
	return nil
}
