package accept

import (
	"reflect"
	"testing"
)

func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []Range
	}{
		{nil, nil},
		{[]string{""}, nil},
		{[]string{"text/csv"}, []Range{{"text/csv", 1}}},
		{[]string{"Text/CSV;q=0.5, */*;q=0.1"}, []Range{{"text/csv", 0.5}, {"*/*", 0.1}}},
		{[]string{"application/json;q=x", "text/xml;q=0"}, []Range{{"application/json", 1}, {"text/xml", 0}}},
		{[]string{"bad type/;;, application/xml"}, []Range{{"application/xml", 1}}},
		// Weights that are no RFC 9110 qvalue: the nearest end, NaN as 1.
		{[]string{"a/b;q=NaN, c/d;q=2, e/f;q=-1, g/h;q=+Inf, i/j;q=-Inf"}, []Range{{"a/b", 1}, {"c/d", 1}, {"e/f", 0}, {"g/h", 1}, {"i/j", 0}}},
	} {
		if got := Ranges(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Ranges(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
