package caddymodule

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// storeAsync runs g.Store in the background and returns its answer.
func storeAsync(g *groupFiles, key, value string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- g.Store(key, []byte(value)) }()
	return done
}

// failedSync checks that err is a failure reporting the sync error of
// the test ("disk on fire").
func failedSync(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("%s: %v, want the failed sync's error", what, err)
	}
}

// TestGroupFilesFailedSyncFailsTheStoresQueuedBehindIt: a sync of the
// file system (two Stores) fails while a third Store, written during it,
// waits for the next sync. The failed sync may have written back the
// third's file and reported its failure (syncfs reports a write-back
// error once, to the first syncfs after it), so the next sync, the
// third's own, succeeds whatever became of its value: the Store must
// fail all the same, and its key keep the value it had. The Store was
// acknowledged, its value renamed into place. A Store begun after the
// failure proceeds as usual.
func TestGroupFilesFailedSyncFailsTheStoresQueuedBehindIt(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()
	if err := fsys.Store(ctx, "csb/k", []byte("old")); err != nil {
		t.Fatal(err)
	}
	first := storeAsync(g, "csb/first", "1")
	<-gs.started
	a, b := storeAsync(g, "csb/a", "a"), storeAsync(g, "csb/b", "b")
	waitQueued(t, g, 2)
	gs.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-gs.started // a's and b's sync, of the file system
	queued := storeAsync(g, "csb/k", "new")
	waitQueued(t, g, 1)
	gs.release <- errors.New("disk on fire")
	failedSync(t, "a Store whose sync failed", <-a)
	failedSync(t, "a Store whose sync failed", <-b)
	<-gs.started // the queued Store's own sync, which succeeds
	gs.release <- nil
	failedSync(t, "a Store written during a sync that failed", <-queued)
	if got, _ := fsys.Load(ctx, "csb/k"); string(got) != "old" {
		t.Fatalf("the key shows %q after a sync that may have lost it failed, want the old value", got)
	}

	after := storeAsync(g, "csb/k", "newer")
	<-gs.started
	gs.release <- nil
	if err := <-after; err != nil {
		t.Fatalf("a Store begun after the failure: %v", err)
	}
	if got, err := fsys.Load(ctx, "csb/k"); err != nil || string(got) != "newer" {
		t.Fatalf("after the failure: %q %v", got, err)
	}
	if len(gs.sizes) != 4 || gs.sizes[1] != 2 {
		t.Fatalf("syncs of %v files, want 4 with two files in the second", gs.sizes)
	}
	noTemps(t, dir)
}

// TestGroupFilesFailedSyncFailsAWriterThatBeganDuringIt: a writer that
// began its file while a sync ran, and joins a sync only after that one
// failed (no sync runs then: it syncs alone), fails too; the failed
// sync may have written its file back. commit is called as Store calls
// it, with the count of failed syncs read before the file was written.
func TestGroupFilesFailedSyncFailsAWriterThatBeganDuringIt(t *testing.T) {
	dir, g, gs, _ := gatedGroup(t)
	first := storeAsync(g, "csb/first", "1")
	<-gs.started
	from := g.failures.Load()
	f, err := writeTemp(filepath.Join(dir, "csb"), []byte("late"))
	if err != nil {
		t.Fatal(err)
	}
	gs.release <- errors.New("disk on fire")
	failedSync(t, "a Store whose sync failed", <-first)
	done := make(chan error, 1)
	go func() { done <- g.commit(f, from) }()
	<-gs.started
	gs.release <- nil
	failedSync(t, "a writer that began during a failed sync", <-done)
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
}

// TestGroupFilesFailedSyncFailsAMarkQueuedBehindIt: Mark, which joins
// the next sync as a Store does, fails when it was made during a sync
// that failed, and its key is removed again, although its own sync
// succeeded. It returned success, leaving an index entry that may not be
// on disk.
func TestGroupFilesFailedSyncFailsAMarkQueuedBehindIt(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()
	first := storeAsync(g, "csb/first", "1")
	<-gs.started
	marked := make(chan error, 1)
	go func() { marked <- g.Mark("csb/jobs/owner/h/j1") }()
	waitQueued(t, g, 1)
	gs.release <- errors.New("disk on fire")
	failedSync(t, "a Store whose sync failed", <-first)
	<-gs.started
	gs.release <- nil
	failedSync(t, "a Mark made during a failed sync", <-marked)
	if fsys.Exists(ctx, "csb/jobs/owner/h/j1") {
		t.Fatal("a Mark that failed left its key")
	}

	go func() { marked <- g.Mark("csb/jobs/owner/h/j2") }()
	<-gs.started
	gs.release <- nil
	if err := <-marked; err != nil || !fsys.Exists(ctx, "csb/jobs/owner/h/j2") {
		t.Fatalf("a Mark after the failure: %v, key exists %v", err, fsys.Exists(ctx, "csb/jobs/owner/h/j2"))
	}
	noTemps(t, dir)
}

// TestGroupFilesFailedSyncFailsTheSyncCoveringALazyMark: a lazy mark
// made while a sync runs (of one file: it does not cover the mark)
// waits for the next sync of every file. The running sync fails: it may
// have written the mark back and reported its failure. The next Store's
// sync, of every file, covers the mark and succeeds; that Store must
// fail, since the success of a sync of every file vouches for the lazy
// marks it covered (store.LazyMarker). It succeeded. The Store after it
// covers the mark again and proceeds as usual.
func TestGroupFilesFailedSyncFailsTheSyncCoveringALazyMark(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()
	first := storeAsync(g, "csb/first", "1")
	<-gs.started
	if err := g.MarkLazy("csb/jobs/owner/h/j1"); err != nil {
		t.Fatal(err)
	}
	gs.release <- errors.New("disk on fire")
	failedSync(t, "a Store whose sync failed", <-first)

	covering := storeAsync(g, "csb/jobs/wal/x.1", "v")
	<-gs.started
	gs.release <- nil
	failedSync(t, "the Store covering a lazy mark made during a failed sync", <-covering)
	if fsys.Exists(ctx, "csb/jobs/wal/x.1") {
		t.Fatal("the Store that failed shows its value")
	}

	after := storeAsync(g, "csb/jobs/wal/x.2", "v")
	<-gs.started
	gs.release <- nil
	if err := <-after; err != nil {
		t.Fatalf("the Store after it: %v", err)
	}
	if len(gs.alls) != 3 || gs.alls[0] || !gs.alls[1] || !gs.alls[2] {
		t.Fatalf("syncs: all %v, want [false true true]", gs.alls)
	}
	if !fsys.Exists(ctx, "csb/jobs/owner/h/j1") {
		t.Fatal("the lazy mark is gone")
	}
	noTemps(t, dir)
}
