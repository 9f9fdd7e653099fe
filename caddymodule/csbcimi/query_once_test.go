package csbcimi

import (
	"net/url"
	"testing"
)

// $first and $last name one position each: given twice
// ("$first=1&$first=3") the first value was used and the other dropped
// without a word, and given empty ("$first=") it was read as absent, so
// a client's mistake listed another window than it asked for. Both are
// now 400, as a value that is not a positive integer is. Several $filter
// parameters still select the union, and several $select or $expand
// parameters add up.
func TestCIMIQueryParamsOnce(t *testing.T) {
	for _, bad := range []url.Values{
		{"$first": {"1", "3"}},
		{"$last": {"2", "2"}},
		{"$first": {""}},
		{"$last": {""}},
	} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	q, err := parseQuery(url.Values{"$filter": {"name='a'", "name='c'"}, "$select": {"name", "cpu"}, "$expand": {"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var ms []obj
	for _, n := range []string{"a", "b", "c"} {
		ms = append(ms, obj{"resourceURI": NS + "/Machine", "id": n, "name": n, "cpu": 1, "state": "STARTED"})
	}
	col := (&call{base: "http://b/cimi/"}).collection("Machine", "machines", ms, q, true)
	got := col["machines"].([]obj)
	if col["count"] != 2 || len(got) != 2 || got[0]["name"] != "a" || got[1]["name"] != "c" || got[0]["cpu"] != 1 || got[0]["state"] != nil {
		t.Fatalf("two $filter, two $select: %v", col)
	}
	if len(q.expand) != 2 {
		t.Fatalf("two $expand: %v", q.expand)
	}
}
