package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// The storage locks of Caddy's file storage, taken with an owner.
//
// certmagic's FileStorage.Lock creates <storage>/locks/<name>.lock and
// starts a goroutine that rewrites the file's "updated" time every 5 s
// for as long as a file of that name exists; a lock whose file was not
// updated for 10 s is stale and may be broken. Its Unlock removes the
// file, and the goroutine notices within 5 s. A broker takes the same
// job locks over and over (a reaper pass every 30 s, or 100 ms in
// tests), and so does its peer on the shared storage: when the peer
// creates the file in the seconds after this process released it, this
// process's goroutine keeps the peer's lock fresh; if the peer then dies
// holding it, the lock never goes stale, and the crashed peer's jobs are
// never taken over (TestConsumerCluster stalled so, 2 runs in 30 under
// load, with b's reaper waiting on a job lock a died with).
//
// So the broker takes the file storage's locks here: the same file, the
// same times (a peer that runs certmagic's Lock on the same storage
// excludes and is excluded alike), plus an owner token. The goroutine
// that keeps a lock fresh rewrites the file only while it holds the
// owner's token, and Unlock stops it before it removes the file, which
// it does only if the file is still its own. Waiting is as certmagic
// does it; breaking a stale lock or an empty lock file is not: a waiter
// judges a lock broken on its own clock, and breaks it under a break
// lock (lockFile). No library offers locks over certmagic's file
// layout; the storage module is the user's choice, and only this one
// needs it.

// Lock timing; tests shorten them.
var (
	fileLockRefresh = 5 * time.Second // how often a held lock's file is rewritten
	fileLockStale   = 2 * fileLockRefresh
	fileLockPoll    = time.Second // how often a waiter looks again
	// How often a waiter looks again at a file without a lock's content,
	// and for how long it waits for one.
	fileLockEmpty      = 250 * time.Millisecond
	fileLockEmptyStale = 8 * fileLockEmpty
)

// fileLockMeta is the lock file's content: certmagic's fields and ours.
type fileLockMeta struct {
	Created time.Time `json:"created,omitempty"`
	Updated time.Time `json:"updated,omitempty"`
	Owner   string    `json:"owner,omitempty"`
}

// heldFileLock is a lock this process holds: its token and the
// goroutine keeping it fresh.
type heldFileLock struct {
	owner   string
	created time.Time
	stop    chan struct{}
	done    chan struct{}
}

// mine reports whether meta is this holder's lock: its owner, or its
// creation time with no owner (a certmagic peer's refresh, lingering
// after its own Unlock of the name, rewrites the file without fields it
// does not know, and keeps the creation time).
func (h *heldFileLock) mine(meta fileLockMeta) bool {
	return meta.Owner == h.owner || meta.Owner == "" && meta.Created.Equal(h.created)
}

// fileLocks holds this process's file locks by file name. The lock
// queue (lockQueue) lets one taker of a name at a time in the process
// ask the storage, so a name has one entry at most.
var fileLocks sync.Map // string → *heldFileLock

// fileLockName is the file certmagic's FileStorage locks name with.
func fileLockName(fsys *certmagic.FileStorage, name string) string {
	return filepath.Join(fsys.Path, "locks", certmagic.StorageKeys.Safe(name)+".lock")
}

// lockFile takes the file lock of name, waiting until it is free or
// broken, or until ctx ends.
//
// A waiter judges a lock broken by what this process saw itself, on its
// own clock, over this wait and earlier ones (lockSights): a file that
// kept one content for fileLockStale (its holder rewrites it every
// fileLockRefresh), or no lock's content for fileLockEmptyStale (being
// created, or rewritten by a certmagic peer's refresh, which truncates
// first, takes moments). certmagic compares the file's "updated" time
// with its own clock, and so broke every lock a live peer held whose
// clock was fileLockStale behind, as happens between machines sharing a
// network volume; it counted the empty files it ever saw while waiting,
// and so broke a live lock after catching eight different holders' files
// in their moment of being written. The price: a lock that died before
// this process first saw it is broken fileLockStale after that, not at
// once.
func lockFile(ctx context.Context, fsys *certmagic.FileStorage, name string) error {
	filename := fileLockName(fsys, name)
	var token [16]byte
	if _, err := rand.Read(token[:]); err != nil {
		return err
	}
	owner := hex.EncodeToString(token[:])
	var seen lockSight
	if v, ok := lockSights.Load(filename); ok {
		seen = v.(lockSight)
	}
	defer func() { rememberSight(filename, seen) }()
	for {
		created, err := createLockFile(filename, owner)
		if err == nil {
			seen = lockSight{}
			h := &heldFileLock{owner: owner, created: created, stop: make(chan struct{}), done: make(chan struct{})}
			fileLocks.Store(filename, h)
			go h.keepFresh(filename)
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		if fileLockLook != nil {
			fileLockLook()
		}
		now, err := lookLockFile(filename)
		if errors.Is(err, fs.ErrNotExist) {
			seen = lockSight{}
			continue // released meanwhile
		}
		if err != nil {
			return err // cannot be read
		}
		if !now.same(seen) {
			now.since = time.Now()
			seen = now
		}
		wait, limit := fileLockPoll, fileLockStale
		if seen.bad {
			wait, limit = fileLockEmpty, fileLockEmptyStale
		}
		if time.Since(seen.since) >= limit {
			if fileLockBreaking != nil {
				fileLockBreaking()
			}
			broke, err := breakLockFile(filename, seen)
			if err != nil {
				return err
			}
			if broke {
				seen = lockSight{}
				continue
			}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lockSights keeps, by lock file, what this process's waiters last saw
// of a lock another holds, across waits: the reaper waits a second for a
// job's lock, and a dead instance's lock is tried for 20 ms, so no one
// wait sees a dead lock for fileLockStale; together they do.
var (
	lockSights     sync.Map // string → lockSight
	lockSightCount atomic.Int64
)

// rememberSight keeps what a wait last saw of filename (nothing: the
// file was gone, taken or broken). Past 4096 files, those not seen for
// fileLockStale are forgotten: seen again, they wait fileLockStale anew.
func rememberSight(filename string, s lockSight) {
	if s.info == nil {
		if _, ok := lockSights.LoadAndDelete(filename); ok {
			lockSightCount.Add(-1)
		}
		return
	}
	s.last = time.Now()
	if _, loaded := lockSights.Swap(filename, s); loaded || lockSightCount.Add(1) <= 4096 {
		return
	}
	lockSights.Range(func(k, v any) bool {
		if time.Since(v.(lockSight).last) > fileLockStale {
			if _, ok := lockSights.LoadAndDelete(k); ok {
				lockSightCount.Add(-1)
			}
		}
		return true
	})
}

// breakSights keeps, by break lock file, when this process first saw it
// as it is (breakLockFile). Break locks live for a look and a remove, so
// few are ever seen.
var breakSights sync.Map // string → lockSight

// Test hooks: fileLockLook runs before a waiter looks at the lock file,
// fileLockBreaking when it has judged the lock broken, before it breaks
// it.
var fileLockLook, fileLockBreaking func()

// lockSight is what a waiter saw of a lock file, and since when (its own
// clock).
type lockSight struct {
	info  fs.FileInfo // nil: nothing seen
	meta  fileLockMeta
	bad   bool      // no lock's content: empty or half written
	since time.Time // first seen so
	last  time.Time // last seen so
}

// same reports whether two sights are of one file, unchanged.
func (a lockSight) same(b lockSight) bool {
	if a.info == nil || b.info == nil || !os.SameFile(a.info, b.info) ||
		!a.info.ModTime().Equal(b.info.ModTime()) || a.info.Size() != b.info.Size() || a.bad != b.bad {
		return false
	}
	return a.bad || a.meta.Owner == b.meta.Owner && a.meta.Created.Equal(b.meta.Created) && a.meta.Updated.Equal(b.meta.Updated)
}

// lookLockFile reads a lock file and its identity; the error is the
// file's (it cannot be opened or read), not its content's.
func lookLockFile(filename string) (lockSight, error) {
	f, err := os.Open(filename)
	if err != nil {
		return lockSight{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return lockSight{}, err
	}
	meta, err := decodeLockFile(f)
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return lockSight{}, err
	}
	return lockSight{info: info, meta: meta, bad: err != nil}, nil
}

// breakLockFile removes the lock file judged broken, if it is still as
// seen, and reports whether it did. Removing is check-then-remove: two
// waiters that judged one dead lock broken would each remove what is
// there, the second one the lock the first took meanwhile, and both
// would hold the lock. So a waiter breaks a lock only while it holds the
// file's break lock (<lock file>.break, made with O_EXCL and held for a
// look and a remove), and only when it still finds the file it judged. A
// break lock left by a waiter that died holding it is removed once this
// process has seen it unchanged for fileLockStale, on its own clock (as
// lock files are judged): its modification time is the clock of the
// machine that made it, or of the file server, and a waiter whose clock
// ran fileLockStale ahead of it removed every break lock at first sight,
// while its breaker looked and removed, and two breakers of one dead
// lock could each remove what was there. Other waiters look again
// meanwhile.
func breakLockFile(filename string, seen lockSight) (bool, error) {
	brk := filename + ".break"
	f, err := os.OpenFile(brk, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		info, err := os.Stat(brk)
		if err != nil {
			return false, nil // gone meanwhile
		}
		if v, ok := breakSights.Load(brk); ok {
			was := v.(lockSight)
			if os.SameFile(was.info, info) && was.info.ModTime().Equal(info.ModTime()) {
				if time.Since(was.since) >= fileLockStale {
					_ = os.Remove(brk)
					breakSights.Delete(brk)
				}
				return false, nil
			}
		}
		breakSights.Store(brk, lockSight{info: info, since: time.Now()})
		return false, nil
	}
	if err != nil {
		return false, err
	}
	breakSights.Delete(brk)
	_ = f.Close()
	defer os.Remove(brk)
	now, err := lookLockFile(filename)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil // released meanwhile
	}
	if err != nil {
		return false, err
	}
	if !now.same(seen) {
		return false, nil // refreshed, or broken and taken by another
	}
	if err := os.Remove(filename); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// unlockFile releases name's file lock: the refresh stops first, then
// the file goes if it is still this holder's (a lock broken as stale
// and taken by another is left to it).
func unlockFile(fsys *certmagic.FileStorage, name string) error {
	filename := fileLockName(fsys, name)
	v, ok := fileLocks.LoadAndDelete(filename)
	if !ok {
		return nil // not held here
	}
	h := v.(*heldFileLock)
	close(h.stop)
	<-h.done
	meta, err := readLockFile(filename)
	var perr *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.As(err, &perr):
		return err
	case err == nil && !h.mine(meta):
		return nil // broken as stale, and another's now
	}
	if err := os.Remove(filename); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// keepFresh rewrites the lock file's updated time every fileLockRefresh
// while the file is this holder's, until Unlock stops it.
func (h *heldFileLock) keepFresh(filename string) {
	defer close(h.done)
	t := time.NewTicker(fileLockRefresh)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		if !h.refresh(filename) {
			return // gone, or broken as stale and another's
		}
	}
}

// refresh rewrites filename's updated time (and owner) if it is h's, and
// reports whether to go on: false once the file is gone or another's.
// A refresh that fails otherwise (the file caught half written by a
// certmagic peer's refresh, which truncates first; an error of a network
// volume) is tried again at the next one: stopping there left a lock
// this process still held to go stale and be taken by a peer.
func (h *heldFileLock) refresh(filename string) bool {
	f, err := os.OpenFile(filename, os.O_RDWR, 0)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	defer f.Close()
	meta, err := decodeLockFile(f)
	if err != nil {
		return true
	}
	if !h.mine(meta) {
		return false
	}
	meta.Updated, meta.Owner = time.Now(), h.owner
	data, err := json.Marshal(meta)
	if err != nil {
		return true
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return true
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return true
	}
	_ = f.Sync()
	return true
}

// createLockFile creates filename, failing with fs.ErrExist when it
// exists, with the lock's times and owner, synced. It returns the
// creation time it wrote.
func createLockFile(filename, owner string) (time.Time, error) {
	if err := os.MkdirAll(filepath.Dir(filename), 0o700); err != nil {
		return time.Time{}, err
	}
	f, err := os.OpenFile(filename, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now().Round(0) // as the file keeps it
	data, err := json.Marshal(fileLockMeta{Created: now, Updated: now, Owner: owner})
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(filename)
	}
	return now, err
}

// readLockFile reads a lock file's content: an *fs.PathError when the
// file cannot be read, a decoding error (io.EOF: empty) when it holds no
// lock's content.
func readLockFile(filename string) (fileLockMeta, error) {
	f, err := os.Open(filename)
	if err != nil {
		return fileLockMeta{}, err
	}
	defer f.Close()
	return decodeLockFile(f)
}

// decodeLockFile decodes an open lock file's content (its first 2 KiB).
func decodeLockFile(f *os.File) (fileLockMeta, error) {
	var meta fileLockMeta
	err := json.NewDecoder(io.LimitReader(f, 2048)).Decode(&meta)
	return meta, err
}
