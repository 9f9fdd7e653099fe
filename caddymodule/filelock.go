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
// it does only if the file is still its own. Waiting, breaking a stale
// lock and an empty lock file are as certmagic does them. No library
// offers locks over certmagic's file layout; the storage module is the
// user's choice, and only this one needs it.

// Lock timing; tests shorten them.
var (
	fileLockRefresh = 5 * time.Second // how often a held lock's file is rewritten
	fileLockStale   = 2 * fileLockRefresh
	fileLockPoll    = time.Second // how often a waiter looks again
	fileLockEmpty   = 250 * time.Millisecond
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
// stale, or until ctx ends.
func lockFile(ctx context.Context, fsys *certmagic.FileStorage, name string) error {
	filename := fileLockName(fsys, name)
	var token [16]byte
	if _, err := rand.Read(token[:]); err != nil {
		return err
	}
	owner := hex.EncodeToString(token[:])
	empty := 0
	for {
		created, err := createLockFile(filename, owner)
		if err == nil {
			h := &heldFileLock{owner: owner, created: created, stop: make(chan struct{}), done: make(chan struct{})}
			fileLocks.Store(filename, h)
			go h.keepFresh(filename)
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		meta, err := readLockFile(filename)
		var perr *fs.PathError
		wait := fileLockPoll
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // released meanwhile
		case errors.As(err, &perr):
			return err // cannot be read
		case err != nil && empty < 8:
			// Empty or half written: being created, or rewritten by a
			// certmagic peer's refresh (it truncates first). Look
			// again soon; eight times so, its writer died mid-way.
			empty++
			wait = fileLockEmpty
		case err != nil || meta.stale():
			if err := os.Remove(filename); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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
			return // gone, broken as stale, or unwritable
		}
	}
}

// refresh rewrites filename's updated time (and owner) if it is h's.
func (h *heldFileLock) refresh(filename string) bool {
	f, err := os.OpenFile(filename, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	meta, err := decodeLockFile(f)
	if err != nil || !h.mine(meta) {
		return false
	}
	meta.Updated, meta.Owner = time.Now(), h.owner
	data, err := json.Marshal(meta)
	if err != nil {
		return false
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return false
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return false
	}
	return f.Sync() == nil
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

// stale reports whether the lock was not refreshed within fileLockStale.
func (m fileLockMeta) stale() bool {
	ref := m.Updated
	if ref.IsZero() {
		ref = m.Created
	}
	return time.Since(ref) > fileLockStale
}
