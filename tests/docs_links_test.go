package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsLinksResolve: every relative link of README.md, CONFORMANCE.md
// and docs/ (with docs/conformance/) names
// a file of the repository, and every #anchor a heading of its document
// (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens).
// Moving a section between documents cannot leave a dead link behind.
func TestDocsLinksResolve(t *testing.T) {
	root := ".."
	var docs []string
	for _, pattern := range []string{"docs/*.md", "docs/*/*.md", "README.md", "CONFORMANCE.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, m...)
	}
	if len(docs) < 5 {
		t.Fatalf("found only %v", docs)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	scheme := regexp.MustCompile(`^[a-z]+:`)
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(withoutCodeBlocks(string(data)), -1) {
			l := m[1]
			if scheme.MatchString(l) {
				continue
			}
			path, anchor, _ := strings.Cut(l, "#")
			target := doc
			if path != "" {
				target = filepath.Join(filepath.Dir(doc), path)
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: link %s: %v", doc, l, err)
				continue
			}
			if anchor != "" && strings.HasSuffix(target, ".md") && !hasAnchor(t, target, anchor) {
				t.Errorf("%s: link %s: %s has no heading with that anchor", doc, l, target)
			}
		}
	}
}

func withoutCodeBlocks(doc string) string {
	return regexp.MustCompile("(?ms)^```.*?^```").ReplaceAllString(doc, "")
}

func hasAnchor(t *testing.T, file, anchor string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _\-]`)
	for _, h := range regexp.MustCompile(`(?m)^#+ (.*)$`).FindAllStringSubmatch(withoutCodeBlocks(string(data)), -1) {
		s := drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(h[1])), "")
		if strings.ReplaceAll(s, " ", "-") == anchor {
			return true
		}
	}
	return false
}
