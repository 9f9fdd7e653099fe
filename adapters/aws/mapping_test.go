package aws

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeMapping keeps README.md's table equal to the table the code
// runs on.
func TestReadmeMapping(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- mapping:begin -->\n", "<!-- mapping:end -->"
	s := string(raw)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md has no mapping markers")
	}
	if got, want := s[i+len(begin):j], MappingMarkdown(); got != want {
		if os.Getenv("CSB_UPDATE_README") != "" {
			if err := os.WriteFile("README.md", []byte(s[:i+len(begin)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README.md mapping is stale (CSB_UPDATE_README=1 go test -run TestReadmeMapping rewrites it); want:\n%s", want)
	}
}
