package csbmsg

import (
	"reflect"
	"testing"
)

func TestIaaSSizes(t *testing.T) {
	n := func(v uint64) *uint64 { return &v }
	arch := "x86_64"
	i := &IaaS{Compute: &Compute{Cores: n(2), Memory: n(4), Speed: n(3), Architecture: &arch}, Storage: &Storage{Size: n(20)}}
	if got, want := i.Sizes(), []string{"2 cores", "4 GB memory", "3 GHz", "x86_64", "20 GB storage"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Sizes() = %q, want %q", got, want)
	}
	if got := (&IaaS{Compute: &Compute{Memory: n(8)}}).Sizes(); !reflect.DeepEqual(got, []string{"8 GB memory"}) {
		t.Fatalf("memory only: %q", got)
	}
	if got := (*IaaS)(nil).Sizes(); got != nil {
		t.Fatalf("nil: %q", got)
	}
}
