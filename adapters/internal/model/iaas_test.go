package model

import (
	"strings"
	"testing"
)

func TestImage(t *testing.T) {
	arch := map[string]string{"x86_64": "img-x86", "arm64": "img-arm"}
	for _, tc := range []struct {
		archImages map[string]string
		def, arch  string
		want, err  string
	}{
		{arch, "img-def", "arm64", "img-arm", ""},
		{arch, "img-def", "", "img-def", ""},
		{arch, "img-def", "riscv64", "", `no AMI configured for architecture "riscv64"`},
		{nil, "img-def", "riscv64", "img-def", ""},
		{nil, "", "riscv64", "", `no AMI configured for architecture "riscv64"`},
		{arch, "", "", "", "no AMI configured for instances (image_id)"},
	} {
		got, err := Image(tc.archImages, tc.def, tc.arch, "AMI", "instances (image_id)")
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Image(%v, %q, %q) = %q, %v; want %q, %q", tc.archImages, tc.def, tc.arch, got, err, tc.want, tc.err)
		}
	}
}

func TestSmallest(t *testing.T) {
	type row struct {
		name  string
		cores int
	}
	rows := []row{{"big", 8}, {"b", 2}, {"tiny", 1}, {"a", 2}, {"c", 2}}
	byCores := func(a, b row) int { return a.cores - b.cores }
	for _, tc := range []struct {
		min  int
		want string
		ok   bool
	}{
		{0, "tiny", true},
		{2, "b", true}, // the first of the equal ones
		{3, "big", true},
		{9, "", false},
	} {
		got, ok := Smallest(rows, func(r row) bool { return r.cores >= tc.min }, byCores)
		if got.name != tc.want || ok != tc.ok {
			t.Errorf("Smallest(cores >= %d) = %q, %v; want %q, %v", tc.min, got.name, ok, tc.want, tc.ok)
		}
	}
}

func TestNMToken(t *testing.T) {
	if v := NMToken("i-0abc.def:1_2"); v == nil || *v != "i-0abc.def:1_2" {
		t.Errorf("NMToken of a token = %v", v)
	}
	for _, s := range []string{"", "a b", "é", "a/b"} {
		if v := NMToken(s); v != nil {
			t.Errorf("NMToken(%q) = %q, want nil", s, *v)
		}
	}
}
