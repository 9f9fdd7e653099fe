package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// setFileLockHooks sets the lock's test hooks for a test.
func setFileLockHooks(t *testing.T, look, breaking func()) {
	t.Helper()
	fileLockLook, fileLockBreaking = look, breaking
	t.Cleanup(func() { fileLockLook, fileLockBreaking = nil, nil })
}

// writeLockMeta rewrites filename in place with meta, as a holder's
// refresh does.
func writeLockMeta(t *testing.T, filename string, meta fileLockMeta) {
	t.Helper()
	data, _ := json.Marshal(meta)
	if err := os.WriteFile(filename, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFileLockOfPeerWithSlowClockNotBroken: a live peer whose clock is
// an hour behind this process's refreshes its lock as it should; a
// waiter here must not break it. Judged by the file's "updated" time
// against this process's clock, the lock was stale at the first look,
// and both processes held it.
func TestFileLockOfPeerWithSlowClockNotBroken(t *testing.T) {
	shortFileLocks(t, time.Minute, time.Minute)
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	filename := fileLockName(fsys, "job")
	peerClock := time.Now().Add(-time.Hour)
	peerLock(t, filename, peerClock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	looks := 0
	setFileLockHooks(t, func() {
		// The peer refreshes between each of the waiter's looks.
		looks++
		peerClock = peerClock.Add(time.Second)
		writeLockMeta(t, filename, fileLockMeta{Created: peerClock, Updated: peerClock, Owner: "peer"})
		if looks == 20 {
			cancel()
		}
	}, nil)
	if err := lockFile(ctx, fsys, "job"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock while a live peer with a slow clock holds the lock: %v", err)
	}
	if meta, err := readLockFile(filename); err != nil || meta.Owner != "peer" {
		t.Fatalf("the peer's lock file: %+v %v", meta, err)
	}
}

// TestFileLockNotBrokenAfterManyEmptySights: a waiter that, over a long
// wait, catches the lock file empty now and then (a certmagic peer's
// refresh truncates it before writing it again; each new holder's file
// is empty for a moment) must not break it. The waiter counted every
// empty file it saw while waiting, and broke the live lock at the ninth.
func TestFileLockNotBrokenAfterManyEmptySights(t *testing.T) {
	shortFileLocks(t, time.Minute, time.Minute)
	e, es := fileLockEmpty, fileLockEmptyStale
	fileLockEmpty, fileLockEmptyStale = time.Microsecond, time.Minute
	t.Cleanup(func() { fileLockEmpty, fileLockEmptyStale = e, es })
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	filename := fileLockName(fsys, "job")
	peerLock(t, filename, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	looks := 0
	setFileLockHooks(t, func() {
		looks++
		if looks%2 == 1 {
			if err := os.WriteFile(filename, nil, 0o644); err != nil { // being rewritten
				t.Error(err)
			}
		} else {
			now := time.Now()
			writeLockMeta(t, filename, fileLockMeta{Created: now, Updated: now, Owner: "peer"})
		}
		if looks == 40 {
			cancel()
		}
	}, nil)
	if err := lockFile(ctx, fsys, "job"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock while a live peer holds the lock: %v", err)
	}
}

// TestFileLockDeadLockBrokenByOneWaiter: two waiters (processes sharing
// the storage) judge a dead peer's lock broken at once; one breaks it
// and takes the lock, and the other must then find the lock held. It
// removed what was there, the first one's new lock, and took the lock
// too.
func TestFileLockDeadLockBrokenByOneWaiter(t *testing.T) {
	shortFileLocks(t, time.Minute, 0) // every lock file unchanged since it was seen is broken
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	filename := fileLockName(fsys, "job")
	peerLock(t, filename, time.Now()) // the peer dies holding it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := true
	var otherErr error
	var other fileLockMeta
	setFileLockHooks(t, nil, func() {
		if !first {
			return
		}
		first = false
		// The other waiter breaks the lock and takes it meanwhile.
		otherErr = lockFile(context.Background(), fsys, "job")
		other, _ = readLockFile(filename)
		cancel()
	})
	err := lockFile(ctx, fsys, "job")
	if otherErr != nil {
		t.Fatal(otherErr)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("the second waiter took the lock the first one holds: %v", err)
	}
	if meta, rerr := readLockFile(filename); rerr != nil || meta.Owner != other.Owner {
		t.Errorf("the lock file is no longer the first waiter's: %+v %v", meta, rerr)
	}
	_ = unlockFile(fsys, "job")
	if _, err := os.Stat(filename + ".break"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("break lock left: %v", err)
	}
}

// TestFileLockRefreshOutlivesHalfWrittenFile: a refresh that finds the
// held lock's file half written (a certmagic peer's lingering refresh
// truncates it before writing it again) goes on refreshing it. It
// stopped for good, and the lock this process still held went stale.
func TestFileLockRefreshOutlivesHalfWrittenFile(t *testing.T) {
	shortFileLocks(t, time.Minute, time.Minute) // the test refreshes by hand
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	s := newCaddyStore(fsys)
	ctx := context.Background()
	if err := s.Lock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	defer s.Unlock(ctx, "job")
	filename := fileLockName(fsys, "job")
	v, _ := fileLocks.Load(filename)
	h := v.(*heldFileLock)
	if err := os.WriteFile(filename, []byte(`{"created":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if !h.refresh(filename) {
		t.Fatal("the refresh stops at a half-written lock file")
	}
	// The peer's rewrite completes, without the owner.
	writeLockMeta(t, filename, fileLockMeta{Created: h.created, Updated: h.created})
	if !h.refresh(filename) {
		t.Fatal("the refresh stops at the lock file rewritten")
	}
	if meta, err := readLockFile(filename); err != nil || meta.Owner != h.owner || !meta.Updated.After(h.created) {
		t.Fatalf("the lock file after a refresh: %+v %v", meta, err)
	}
	// Another's lock, and no lock: the refresh stops.
	writeLockMeta(t, filename, fileLockMeta{Created: time.Now(), Updated: time.Now(), Owner: "peer"})
	if h.refresh(filename) {
		t.Fatal("the refresh goes on over another's lock")
	}
	_ = os.Remove(filename)
	if h.refresh(filename) {
		t.Fatal("the refresh goes on with no lock file")
	}
}

// TestFileLockDeadLockBrokenAcrossShortWaits: the reaper waits a second
// for a job's lock, and a dead instance's lock is tried for 20 ms; a
// dead peer's lock, judged on this process's clock, is broken once it
// was seen unchanged for fileLockStale over such short waits together.
func TestFileLockDeadLockBrokenAcrossShortWaits(t *testing.T) {
	shortFileLocks(t, time.Minute, time.Minute)
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	filename := fileLockName(fsys, "job")
	peerLock(t, filename, time.Now()) // the peer dies holding it
	ctx, cancel := context.WithCancel(context.Background())
	setFileLockHooks(t, cancel, nil) // a wait of one look
	if err := lockFile(ctx, fsys, "job"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the first short wait: %v", err)
	}
	// A minute passes; the file does not change.
	v, ok := lockSights.Load(filename)
	if !ok {
		t.Fatal("the sight of the dead peer's lock is forgotten")
	}
	s := v.(lockSight)
	s.since = s.since.Add(-time.Minute)
	lockSights.Store(filename, s)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	setFileLockHooks(t, cancel2, nil)
	if err := lockFile(ctx2, fsys, "job"); err != nil {
		t.Fatalf("the dead peer's lock, unchanged for a minute, is not broken: %v", err)
	}
	_ = unlockFile(fsys, "job")
	if _, ok := lockSights.Load(filename); ok {
		t.Error("the sight of a lock broken and taken is kept")
	}
}

// TestFileLockBreakLockOfPeerWithSlowClockKept: another waiter, whose
// clock (or file server's) is an hour behind this process's, holds the
// break lock of a dead lock while it looks and removes; a waiter here
// must leave its break lock alone. Judged by the break lock's
// modification time against this process's clock, it was removed at
// first sight, and two breakers could break at once (each removing
// what was there: the other's new lock). A break lock seen unchanged
// for fileLockStale is a dead breaker's and goes.
func TestFileLockBreakLockOfPeerWithSlowClockKept(t *testing.T) {
	shortFileLocks(t, time.Minute, 0)
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	filename := fileLockName(fsys, "job")
	peerLock(t, filename, time.Now()) // dead
	seen, err := lookLockFile(filename)
	if err != nil {
		t.Fatal(err)
	}
	brk := filename + ".break"
	if err := os.WriteFile(brk, nil, 0o644); err != nil { // the other breaker's
		t.Fatal(err)
	}
	peerClock := time.Now().Add(-time.Hour)
	if err := os.Chtimes(brk, peerClock, peerClock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { breakSights.Delete(brk) })
	if broke, err := breakLockFile(filename, seen); broke || err != nil {
		t.Fatalf("broke %v, %v with another's break lock in place", broke, err)
	}
	if _, err := os.Stat(brk); err != nil {
		t.Fatalf("a live breaker's break lock with an old clock was removed at first sight: %v", err)
	}
	if _, err := os.Stat(filename); err != nil {
		t.Fatalf("the lock was broken under another's break lock: %v", err)
	}
	// Seen again, unchanged, fileLockStale (0 here) later: its breaker
	// died holding it.
	if broke, err := breakLockFile(filename, seen); broke || err != nil {
		t.Fatalf("broke %v, %v", broke, err)
	}
	if _, err := os.Stat(brk); err == nil {
		t.Fatal("a break lock seen unchanged for fileLockStale is kept")
	}
	if broke, err := breakLockFile(filename, seen); !broke || err != nil {
		t.Fatalf("the dead lock once the dead breaker's break lock is gone: broke %v, %v", broke, err)
	}
}
