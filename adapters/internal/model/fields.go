package model

import (
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

var nmtokenRE = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// NMToken returns s if it is an XML NMTOKEN of ASCII name characters
// (what a grant's NMTOKEN fields take from a native id), else nil.
func NMToken(s string) *string {
	if nmtokenRE.MatchString(s) {
		return &s
	}
	return nil
}
