package caddymodule

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestGroupFilesStoreSyncsItsRenameBeforeItReturns: a Store returns only
// once its key's directory was synced after the rename, so that the new
// directory entry survives a crash (the write-ahead log's callers call a
// provider once Store returned). A directory sync that fails fails the
// Store. The rename was left to the file system's next commit, and a
// Store returned success with its key's entry not on disk.
func TestGroupFilesStoreSyncsItsRenameBeforeItReturns(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()
	var synced []string
	var dirErr error
	g.syncDir = func(d string) error {
		// The rename comes first: this sync is what makes it durable.
		got, err := fsys.Load(ctx, "csb/jobs/wal/x.1")
		synced = append(synced, d+" shows "+string(got))
		if err != nil {
			t.Errorf("the key's directory synced before the rename: %v", err)
		}
		return dirErr
	}

	done := storeAsync(g, "csb/jobs/wal/x.1", "v1")
	<-gs.started
	gs.release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "csb", "jobs", "wal") + " shows v1"
	if len(synced) != 1 || synced[0] != want {
		t.Fatalf("directory syncs %q, want one: %q", synced, want)
	}

	dirErr = errors.New("disk on fire")
	done = storeAsync(g, "csb/jobs/wal/x.1", "v2")
	<-gs.started
	gs.release <- nil
	failedSync(t, "a Store whose directory sync failed", <-done)

	dirErr = nil
	done = storeAsync(g, "csb/jobs/wal/x.1", "v3")
	<-gs.started
	gs.release <- nil
	if err := <-done; err != nil {
		t.Fatalf("a Store begun after the failure: %v", err)
	}
	noTemps(t, dir)
}
