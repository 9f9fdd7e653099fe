package caddymodule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// gatedSync is a sync that counts its calls and, while gated, blocks
// each one until the test lets it go.
type gatedSync struct {
	calls   atomic.Int32
	sizes   []int  // files given to each sync
	alls    []bool // each sync's all
	started chan int32
	release chan error
}

func newGatedSync() *gatedSync {
	return &gatedSync{started: make(chan int32, 16), release: make(chan error)}
}

func (s *gatedSync) sync(files []tempFile, all bool) error {
	s.sizes = append(s.sizes, len(files)) // syncs never overlap
	s.alls = append(s.alls, all)
	n := s.calls.Add(1)
	s.started <- n
	return <-s.release
}

// gatedGroup is a group writer over a new storage directory whose syncs
// the test gates, and certmagic's storage over the same directory.
func gatedGroup(t *testing.T) (string, *groupFiles, *gatedSync, *certmagic.FileStorage) {
	dir := t.TempDir()
	gs := newGatedSync()
	fsys := &certmagic.FileStorage{Path: dir}
	return dir, &groupFiles{fs: fsys, sync: gs.sync}, gs, fsys
}

// noTemps fails if a temporary file is left under dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && isTemp(d.Name()) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// A Store's key shows its value only once a sync that began after the
// value was written has returned; Stores that arrive while a sync runs
// share the next one.
func TestGroupFilesShareOneSyncAndShowKeysOnlyAfterIt(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { first <- g.Store("csb/jobs/job/first", []byte("1")) }()
	if n := <-gs.started; n != 1 {
		t.Fatalf("sync %d started first", n)
	}
	// While the first sync runs, five more writers arrive.
	const more = 5
	var wg sync.WaitGroup
	errs := make(chan error, more)
	for i := range more {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- g.Store("csb/jobs/owner/h/"+string(rune('a'+i)), []byte{byte('a' + i)})
		}()
	}
	waitQueued(t, g, more)
	if _, err := fsys.Load(ctx, "csb/jobs/job/first"); err == nil {
		t.Fatal("the key shows its value before its sync returned")
	}
	gs.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got, err := fsys.Load(ctx, "csb/jobs/job/first"); err != nil || string(got) != "1" {
		t.Fatalf("after its sync: %q %v", got, err)
	}
	// The five share the second sync, and wait for it.
	if n := <-gs.started; n != 2 {
		t.Fatalf("sync %d started second", n)
	}
	if _, err := fsys.Load(ctx, "csb/jobs/owner/h/a"); err == nil {
		t.Fatal("a queued writer's key shows before the sync after its write returned")
	}
	gs.release <- nil
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := gs.calls.Load(); n != 2 || gs.sizes[0] != 1 || gs.sizes[1] != more {
		t.Fatalf("%d syncs of %v files for 6 stores, want 2 of [1 %d]", n, gs.sizes, more)
	}
	for i := range more {
		k := "csb/jobs/owner/h/" + string(rune('a'+i))
		if got, err := fsys.Load(ctx, k); err != nil || string(got) != string(rune('a'+i)) {
			t.Errorf("%s: %q %v", k, got, err)
		}
	}
	noTemps(t, dir)
}

// waitQueued waits until n writers wait for the next sync.
func waitQueued(t *testing.T, g *groupFiles, n int) {
	t.Helper()
	for {
		g.mu.Lock()
		q := len(g.next)
		g.mu.Unlock()
		if q == n {
			return
		}
		if q > n {
			t.Fatalf("%d writers queued, want %d", q, n)
		}
		// The writers are writing their temporary files.
		runtime.Gosched()
	}
}

// A sync that fails fails every Store that waited for it: none of their
// keys changes, and no temporary file is left.
func TestGroupFilesSyncErrorStoresNothing(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()
	if err := fsys.Store(ctx, "csb/k", []byte("old")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Store("csb/k", []byte("new")) }()
	<-gs.started
	gs.release <- errors.New("disk on fire")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Store after a failed sync: %v", err)
	}
	if got, _ := fsys.Load(ctx, "csb/k"); string(got) != "old" {
		t.Fatalf("the key changed after a failed sync: %q", got)
	}
	noTemps(t, dir)
}

// On the real file system: values round-trip through certmagic's Load,
// replace earlier ones, make their directories, and List (the broker's
// listing of the storage) never names a temporary file.
func TestGroupFilesOnTheFileSystem(t *testing.T) {
	dir := t.TempDir()
	fsys := &certmagic.FileStorage{Path: dir}
	s := newCaddyStore(fsys)
	if s.g == nil {
		t.Skip("no file-system sync on this platform: Store is certmagic's")
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := "csb/jobs/job/j" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			if err := s.Store(ctx, k, []byte(k)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Store(ctx, "csb/jobs/job/jaa", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if got, err := fsys.Load(ctx, "csb/jobs/job/jaa"); err != nil || string(got) != "replaced" {
		t.Fatalf("replaced value: %q %v", got, err)
	}
	// A writer's temporary file, as a crash would leave it.
	if err := os.WriteFile(filepath.Join(dir, "csb", "jobs", "job", tempPrefix+"0123"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(ctx, "csb/jobs/job/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 50 {
		t.Fatalf("%d keys listed, want 50: %q", len(keys), keys)
	}
	for _, k := range keys {
		if got, err := fsys.Load(ctx, k); err != nil || (k != "csb/jobs/job/jaa" && string(got) != k) {
			t.Errorf("%s: %q %v", k, got, err)
		}
	}
}

// A temporary file a killed process left is deleted by the sweep after
// the one that first saw it, if it has not changed meanwhile; one being
// written is kept, and so is a key.
func TestGroupFilesRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "csb", "jobs", "job")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	left, written, key := filepath.Join(sub, tempPrefix+"left"), filepath.Join(sub, tempPrefix+"written"), filepath.Join(sub, "key")
	for _, p := range []string{left, written, key} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := &tempSweeper{dir: filepath.Join(dir, "csb")}
	s.sweep()
	if err := os.WriteFile(written, []byte("xy"), 0o600); err != nil { // still being written
		t.Fatal(err)
	}
	s.sweep()
	for p, want := range map[string]bool{left: false, written: true, key: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

// TestTempSweepOfPeerWithSlowClock: a live peer whose clock (or file
// server's) is an hour behind this process's writes a temporary file it
// is about to rename; a sweep must leave it. Judged by its modification
// time against this process's clock, it was an hour old and deleted,
// and the peer's Store failed. Seen unchanged by a later sweep, it is
// a dead writer's and goes.
func TestTempSweepOfPeerWithSlowClock(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "csb", "jobs", "wal")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(sub, tempPrefix+"peer")
	if err := os.WriteFile(temp, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	peerClock := time.Now().Add(-time.Hour)
	if err := os.Chtimes(temp, peerClock, peerClock); err != nil {
		t.Fatal(err)
	}
	s := &tempSweeper{dir: filepath.Join(dir, "csb")}
	s.sweep()
	if _, err := os.Stat(temp); err != nil {
		t.Fatalf("a live peer's temporary file with an old clock was swept at first sight: %v", err)
	}
	s.sweep()
	if _, err := os.Stat(temp); err == nil {
		t.Fatal("a temporary file seen unchanged by two sweeps is kept")
	}
}

// Mark makes its key's file, empty, in place: the key shows at once (it
// has no value anybody reads) and Mark returns only once a sync has
// returned; a failed sync removes the file; a key that exists goes
// through Store; and no temporary file is ever left.
func TestGroupFilesMark(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- g.Mark("csb/jobs/owner/h/j1") }()
	<-gs.started
	// Made in place, not renamed into place after the sync.
	if !fsys.Exists(ctx, "csb/jobs/owner/h/j1") {
		t.Fatal("Mark's file is not in place while its sync runs")
	}
	noTemps(t, dir)
	select {
	case err := <-done:
		t.Fatalf("Mark returned before its sync: %v", err)
	default:
	}
	gs.release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := fsys.Load(ctx, "csb/jobs/owner/h/j1"); err != nil || len(got) != 0 {
		t.Fatalf("marked key: %q, %v", got, err)
	}

	// A failed sync: the key is gone again.
	go func() { done <- g.Mark("csb/jobs/owner/h/j2") }()
	<-gs.started
	gs.release <- errors.New("disk on fire")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Mark after a failed sync: %v", err)
	}
	if fsys.Exists(ctx, "csb/jobs/owner/h/j2") {
		t.Fatal("a Mark whose sync failed left its key")
	}

	// An existing key (an index key written by Store, with a value):
	// stored again through Store, empty.
	if err := fsys.Store(ctx, "csb/jobs/owner/h/j3", []byte("j3")); err != nil {
		t.Fatal(err)
	}
	go func() { done <- g.Mark("csb/jobs/owner/h/j3") }()
	<-gs.started
	gs.release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := fsys.Load(ctx, "csb/jobs/owner/h/j3"); err != nil || len(got) != 0 {
		t.Fatalf("re-marked key: %q, %v", got, err)
	}
	noTemps(t, dir)
}

// MarkLazy makes its key's file in place with no sync of its own; the
// next Store to begin syncs every file (all) even when it is alone, so
// that the key is durable once that Store returns; a Store after that
// syncs its own file again.
func TestGroupFilesMarkLazy(t *testing.T) {
	dir, g, gs, fsys := gatedGroup(t)
	ctx := context.Background()
	if err := g.MarkLazy("csb/jobs/owner/h/j1"); err != nil {
		t.Fatal(err)
	}
	if n := gs.calls.Load(); n != 0 || !fsys.Exists(ctx, "csb/jobs/owner/h/j1") {
		t.Fatalf("MarkLazy: %d syncs, key exists %v; want none and true", n, fsys.Exists(ctx, "csb/jobs/owner/h/j1"))
	}
	// A key that exists stays as it is.
	if err := g.MarkLazy("csb/jobs/owner/h/j1"); err != nil {
		t.Fatal(err)
	}
	store := func(key string) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- g.Store(key, []byte("v")) }()
		<-gs.started
		gs.release <- nil
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	store("csb/jobs/wal/x.1")
	store("csb/jobs/wal/x.2")
	if len(gs.alls) != 2 || !gs.alls[0] || gs.alls[1] || gs.sizes[0] != 1 {
		t.Fatalf("syncs after a lazy mark: all %v, files %v; want [true false], a lone file first", gs.alls, gs.sizes)
	}
	noTemps(t, dir)
}
