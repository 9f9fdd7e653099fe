package caddymodule

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
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

// The syncs that make renames durable are shared as the syncs of values
// are: renames made while one runs share the next one, so that a Store
// costs one more shared sync, not a directory sync of its own each.
func TestGroupFilesRenamesShareOneSync(t *testing.T) {
	_, g, gs, _ := gatedGroup(t)
	go func() {
		for range gs.started {
			gs.release <- nil // the values' syncs are not what is looked at
		}
	}()
	started, release := make(chan string, 8), make(chan error)
	g.syncDir = func(d string) error {
		started <- d
		return <-release
	}
	first := storeAsync(g, "csb/jobs/wal/a", "a")
	<-started // the first rename's sync runs
	const more = 4
	var dones []<-chan error
	for i := range more {
		dones = append(dones, storeAsync(g, "csb/jobs/job/"+string(rune('b'+i)), "x"))
	}
	// Wait until all four renames queue behind the running sync; none
	// may start a sync of its own meanwhile.
	for {
		g.entries.mu.Lock()
		n := len(g.entries.next)
		g.entries.mu.Unlock()
		if n == more {
			break
		}
		select {
		case d := <-started:
			t.Fatalf("a rename synced (%s) while another rename's sync ran, instead of waiting to share the next", d)
		default:
		}
		runtime.Gosched()
	}
	release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-started // one sync for the four
	release <- nil
	for _, done := range dones {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case d := <-started:
		t.Fatalf("a third rename sync (%s): the four queued renames did not share one", d)
	default:
	}
}
