package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// shortFileLocks makes the file locks' times short for a test.
func shortFileLocks(t *testing.T, refresh, stale time.Duration) {
	t.Helper()
	r, s, p := fileLockRefresh, fileLockStale, fileLockPoll
	fileLockRefresh, fileLockStale, fileLockPoll = refresh, stale, 5*time.Millisecond
	t.Cleanup(func() { fileLockRefresh, fileLockStale, fileLockPoll = r, s, p })
}

// peerLock writes the lock file filename as another process holding
// the lock would, with its last refresh at updated.
func peerLock(t *testing.T, filename string, updated time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filename), 0o700); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(fileLockMeta{Created: updated, Updated: updated, Owner: "peer"})
	if err := os.WriteFile(filename, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// heldJobLock takes the lock "job" in a store over a new file storage,
// refreshed every 10 ms and stale after a minute, and returns the store
// and the lock's file.
func heldJobLock(t *testing.T) (caddyStore, string) {
	t.Helper()
	shortFileLocks(t, 10*time.Millisecond, time.Minute)
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	s := newCaddyStore(fsys)
	if err := s.Lock(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	return s, fileLockName(fsys, "job")
}

// TestFileLockOfDeadPeerGoesStale: a lock this process released and a
// peer took next goes stale once the peer dies. certmagic's Lock keeps
// refreshing a file of the lock's name for up to 5 s after its Unlock,
// and so kept a lock a peer took in that window fresh for as long as
// this process lived.
func TestFileLockOfDeadPeerGoesStale(t *testing.T) {
	shortFileLocks(t, 10*time.Millisecond, 50*time.Millisecond)
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	s := newCaddyStore(fsys)
	ctx := context.Background()
	if err := s.Lock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	peerLock(t, fileLockName(fsys, "job"), time.Now()) // the peer takes it, then dies
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.Lock(lctx, "job"); err != nil {
		t.Fatalf("the dead peer's lock never went stale: %v", err)
	}
	_ = s.Unlock(ctx, "job")
}

// TestFileLockNotRefreshedOnceLost: a lock broken as stale (its holder
// stalled) and taken by a peer is not refreshed by the stalled holder,
// and its Unlock leaves the peer's file alone.
func TestFileLockNotRefreshedOnceLost(t *testing.T) {
	s, filename := heldJobLock(t)
	ctx := context.Background()
	v, ok := fileLocks.Load(filename)
	if !ok {
		t.Fatal("no refresh running for a held lock")
	}
	old := time.Now().Add(-time.Hour)
	peerLock(t, filename, old) // broken and taken by the peer
	select {
	case <-v.(*heldFileLock).done:
	case <-time.After(5 * time.Second):
		t.Fatal("the refresh goes on over the peer's lock file")
	}
	if err := s.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	meta, err := readLockFile(filename)
	if err != nil || meta.Owner != "peer" || !meta.Updated.Equal(old) {
		t.Fatalf("the peer's lock file after the stalled holder's unlock: %+v %v", meta, err)
	}
}

// TestFileLockExcludesCertmagicPeers: the file is certmagic's: a peer
// taking the lock with certmagic's Lock waits while this process holds
// it and gets it after the Unlock, and the other way round.
func TestFileLockExcludesCertmagicPeers(t *testing.T) {
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	s := newCaddyStore(fsys)
	ctx := context.Background()
	if err := s.Lock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := fsys.Lock(short, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("certmagic's Lock while held here: %v", err)
	}
	if err := s.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Lock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if err := s.Lock(short2, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock here while certmagic's peer holds it: %v", err)
	}
	if err := fsys.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	_ = s.Unlock(ctx, "job")
}

// TestFileLockRewrittenByCertmagicRefreshStaysMine: a certmagic refresh
// lingering after its own Unlock of the name rewrites this holder's file
// without the owner; the lock is still this holder's: refreshed, and
// removed by its Unlock.
func TestFileLockRewrittenByCertmagicRefreshStaysMine(t *testing.T) {
	s, filename := heldJobLock(t)
	ctx := context.Background()
	meta, err := readLockFile(filename)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(struct {
		Created time.Time `json:"created"`
		Updated time.Time `json:"updated"`
	}{meta.Created, time.Now()})
	if err := os.WriteFile(filename, data, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := readLockFile(filename)
		if err == nil && m.Owner == meta.Owner {
			break // refreshed, with the owner back
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock's refresh stopped: %+v %v", m, err)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	if err := s.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filename); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lock file after Unlock: %v", err)
	}
}
