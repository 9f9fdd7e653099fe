package caddymodule

import (
	"errors"
	"testing"
)

// TestGroupFilesMarkLazySurvivesFailedSync: a lazy mark whose covering
// sync (the next Store's, of the whole file system) fails is still
// covered by the Store after it. The failed sync had cleared the mark's
// pending state, so the next Store synced its own file alone and
// returned with the mark never made durable, although it began after
// MarkLazy returned (store.LazyMarker).
func TestGroupFilesMarkLazySurvivesFailedSync(t *testing.T) {
	dir, g, gs, _ := gatedGroup(t)
	if err := g.MarkLazy("csb/jobs/owner/h/j1"); err != nil {
		t.Fatal(err)
	}
	store := func(key string, syncErr error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- g.Store(key, []byte("v")) }()
		<-gs.started
		gs.release <- syncErr
		return <-done
	}
	if err := store("csb/jobs/wal/x.1", errors.New("disk on fire")); err == nil {
		t.Fatal("Store after a failed sync succeeded")
	}
	if err := store("csb/jobs/wal/x.2", nil); err != nil {
		t.Fatal(err)
	}
	if len(gs.alls) != 2 || !gs.alls[0] || !gs.alls[1] {
		t.Fatalf("syncs after a lazy mark, the first failing: all %v; want [true true]", gs.alls)
	}
	noTemps(t, dir)
}
