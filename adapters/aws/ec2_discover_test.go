package aws

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestEC2DiscoverSkipsTypesTheRegionLacks: discovery named the table's
// types in DescribeInstanceTypes' InstanceTypes, which EC2 refuses whole
// (InvalidInstanceType, "The following supplied instance types do not
// exist") when one of them is not offered in the region. In a region
// without the default table's t4g types, or with a configured table
// naming a type of another region, the provider was left with no IaaS
// offer at all (and, with S3 beside it, without an error saying so).
// The types the region offers are the provider's offers.
func TestEC2DiscoverSkipsTypesTheRegionLacks(t *testing.T) {
	d := newEC2Double(t)
	d.lacking = map[string]bool{}
	for _, it := range DefaultInstanceTypes {
		if strings.HasPrefix(it.Name, "t4g.") {
			d.lacking[it.Name] = true
		}
	}
	a := ec2Adapter(t, d)
	svcs, err := a.Discover(context.Background())
	if err != nil {
		t.Fatalf("discover in a region without t4g: %v", err)
	}
	var ids []string
	for _, s := range svcs {
		ids = append(ids, s.ID)
	}
	if len(ids) != len(DefaultInstanceTypes)-len(d.lacking) || !slices.Contains(ids, "ec2-t3.micro") || slices.Contains(ids, "ec2-t4g.micro") {
		t.Fatalf("services %v: want the table's types but t4g", ids)
	}
}
