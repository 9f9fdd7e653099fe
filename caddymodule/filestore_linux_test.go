package caddymodule

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFsSyncOpensTheDirectoryAgainAfterAFailure: a sync of the file
// system that could not open the storage directory (a file in its way
// here; too many open files under a burst of connections in a broker)
// opens it again at the next sync. The first failure was kept for the
// process's life, and every Store that shared a sync failed after it.
func TestFsSyncOpensTheDirectoryAgainAfterAFailure(t *testing.T) {
	root := filepath.Join(t.TempDir(), "storage")
	if err := os.WriteFile(root, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sync := fsSync(root)
	if err := sync(nil, true); err == nil {
		t.Fatal("a sync with a file in the storage directory's way succeeded")
	}
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	if err := sync(nil, true); err != nil {
		t.Fatalf("the sync once the directory can be opened: %v", err)
	}
}
