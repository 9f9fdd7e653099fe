package adaptertest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// ReadmeTable returns the body rows of the first Markdown table in the file
// at path whose header row starts with header (for instance
// "| OCCI state |"), each row split into trimmed cells. A backslash-escaped
// pipe (\|) stays inside its cell. The test fails if there is no such
// table or it has no rows.
func ReadmeTable(t *testing.T, path, header string) [][]string {
	t.Helper()
	lines := strings.Split(readText(t, path), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), header) {
			continue
		}
		var rows [][]string
		for _, r := range lines[i+2:] { // skip the |---| line
			r = strings.TrimSpace(r)
			if !strings.HasPrefix(r, "|") {
				break
			}
			rows = append(rows, splitRow(r))
		}
		if len(rows) == 0 {
			t.Fatalf("%s: the table %q has no rows", path, header)
		}
		return rows
	}
	t.Fatalf("%s has no table whose header starts with %q", path, header)
	return nil
}

// readText returns the content of the file at path; the test fails if it
// cannot be read.
func readText(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func splitRow(r string) []string {
	r = strings.TrimSuffix(strings.TrimPrefix(r, "|"), "|")
	r = strings.ReplaceAll(r, `\|`, "\x00")
	cells := strings.Split(r, "|")
	for i, c := range cells {
		cells[i] = strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|"))
	}
	return cells
}

// ReadmeParagraph returns the paragraph (text up to the next blank line)
// of the file at path that starts with prefix; the test fails if there is
// none.
func ReadmeParagraph(t *testing.T, path, prefix string) string {
	t.Helper()
	for _, p := range strings.Split(readText(t, path), "\n\n") {
		if strings.HasPrefix(strings.TrimSpace(p), prefix) {
			return strings.TrimSpace(p)
		}
	}
	t.Fatalf("%s has no paragraph starting %q", path, prefix)
	return ""
}

var backticked = regexp.MustCompile("`([^`]+)`")

// Backticked returns the code spans (text between backticks) of s, in
// order.
func Backticked(s string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}
