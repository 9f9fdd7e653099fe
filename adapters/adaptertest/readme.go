package adaptertest

import (
	"os"
	"strings"
	"testing"
)

// README mapping markers: the generated table stands between them.
const (
	readmeBegin = "<!-- mapping:begin -->\n"
	readmeEnd   = "<!-- mapping:end -->"
)

// CheckReadme keeps the mapping table of a README (between the lines
// <!-- mapping:begin --> and <!-- mapping:end -->) equal to table, the
// table the adapter's code runs on. With CSB_UPDATE_README set it
// rewrites the README instead of failing.
func CheckReadme(t *testing.T, path, table string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no mapping markers", path)
	}
	if s[i+len(readmeBegin):j] == table {
		return
	}
	if os.Getenv("CSB_UPDATE_README") != "" {
		if err := os.WriteFile(path, []byte(s[:i+len(readmeBegin)]+table+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s mapping is stale (CSB_UPDATE_README=1 go test -run %s rewrites it); want:\n%s", path, t.Name(), table)
}
