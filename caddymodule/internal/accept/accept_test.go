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
	} {
		if got := Ranges(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Ranges(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
