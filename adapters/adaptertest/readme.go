package adaptertest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
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
	checkSection(t, path, "mapping", readmeBegin, readmeEnd, table)
}

// CheckHonoured keeps the list of honoured request fields of a README
// (between the lines <!-- honoured:begin --> and <!-- honoured:end -->)
// equal to the set the adapter declares (contract.FieldReporter). With
// CSB_UPDATE_README set it rewrites the README instead of failing.
func CheckHonoured(t *testing.T, path string, set contract.FieldSet) {
	t.Helper()
	var b strings.Builder
	for _, f := range set.Sorted() {
		fmt.Fprintf(&b, "- `%s`\n", f)
	}
	checkSection(t, path, "honoured fields", "<!-- honoured:begin -->\n", "<!-- honoured:end -->", b.String())
}

func checkSection(t *testing.T, path, what, begin, end, text string) {
	t.Helper()
	s := readText(t, path)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s markers (%q ... %q)", path, what, strings.TrimSpace(begin), end)
	}
	if s[i+len(begin):j] == text {
		return
	}
	if os.Getenv("CSB_UPDATE_README") != "" {
		if err := os.WriteFile(path, []byte(s[:i+len(begin)]+text+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s %s are stale (CSB_UPDATE_README=1 go test -run %s rewrites them); want:\n%s", path, what, t.Name(), text)
}
