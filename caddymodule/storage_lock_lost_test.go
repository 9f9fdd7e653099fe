package caddymodule

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// TestStoreLockLostIsNotHandedOver: a storage lock this process lost
// while it held it (its holder stalled past fileLockStale, and a peer
// broke the lock and took it) is not handed over to the next taker
// here as held: that taker takes the lock from the storage, and waits
// for the peer. Handed over, every taker of a busy name held it beside
// the peer for as long as takers here kept coming.
func TestStoreLockLostIsNotHandedOver(t *testing.T) {
	shortFileLocks(t, 10*time.Millisecond, time.Minute)
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	s := newCaddyStore(fsys)
	ctx := context.Background()
	const name = "job"
	if err := s.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	filename := fileLockName(fsys, name)
	v, ok := fileLocks.Load(filename)
	if !ok {
		t.Fatal("no refresh running for a held lock")
	}
	peerLock(t, filename, time.Now()) // broken as stale and taken by the peer
	select {
	case <-v.(*heldFileLock).done: // the refresh saw the lock lost
	case <-time.After(5 * time.Second):
		t.Fatal("the refresh goes on over the peer's lock file")
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	setFileLockHooks(t, cancel, nil) // the next taker waits in the storage: done
	got := make(chan error, 1)
	go func() { got <- s.Lock(wctx, name) }()
	deadline := time.Now().Add(10 * time.Second)
	for lockQueue.Waiting(s.lockNS+name) != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	if err := s.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, context.Canceled) {
		if err == nil {
			_ = s.Unlock(ctx, name)
		}
		t.Fatalf("the next taker, with the peer holding the lock: %v", err)
	}
	if meta, err := readLockFile(filename); err != nil || meta.Owner != "peer" {
		t.Fatalf("the peer's lock file: %+v %v", meta, err)
	}
}

// TestStoreLockLostReported: the store tells the holder of a long-held
// lock (the jobs' instance lock) that a peer broke it as stale and took
// it (store.LockKeeper), so that the holder takes it again.
func TestStoreLockLostReported(t *testing.T) {
	shortFileLocks(t, 10*time.Millisecond, time.Minute)
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	s := newCaddyStore(fsys)
	ctx := context.Background()
	const name = "instance"
	if err := s.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	defer s.Unlock(ctx, name)
	if s.LockLost(name) {
		t.Fatal("a lock held is reported lost")
	}
	filename := fileLockName(fsys, name)
	v, _ := fileLocks.Load(filename)
	peerLock(t, filename, time.Now())
	select {
	case <-v.(*heldFileLock).done:
	case <-time.After(5 * time.Second):
		t.Fatal("the refresh goes on over the peer's lock file")
	}
	if !s.LockLost(name) {
		t.Fatal("a lock the peer took is not reported lost")
	}
}
