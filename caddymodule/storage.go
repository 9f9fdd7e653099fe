package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// caddyStore adapts the configured Caddy storage (ctx.Storage(): the file
// system by default, or whatever storage module a cluster shares) to the
// engine's store.Store. Its locks are Caddy storage locks, so they are
// shared by every Caddy instance that shares the storage.
//
// On Caddy's file-system storage the writes running at once share their
// sync (g, filestore.go).
type caddyStore struct {
	s certmagic.Storage
	g *groupFiles // nil: Store is the storage's own
	// lockNS names the storage in the process's lock queue (lockQueue).
	lockNS string
}

// newCaddyStore returns the store over s.
func newCaddyStore(s certmagic.Storage) caddyStore {
	c := caddyStore{s: s, lockNS: storageIdentity(s)}
	if fsys, ok := s.(*certmagic.FileStorage); ok {
		if g := groupFilesOf(fsys); g.sync != nil {
			c.g = g
		}
	}
	return c
}

// Load implements store.Store.
func (c caddyStore) Load(ctx context.Context, key string) ([]byte, error) {
	return c.s.Load(ctx, key)
}

// Store implements store.Store.
func (c caddyStore) Store(ctx context.Context, key string, value []byte) error {
	if c.g != nil {
		return c.g.Store(key, value)
	}
	return c.s.Store(ctx, key, value)
}

// Mark implements store.Marker: on the group-committed file storage an
// empty file made in place (groupFiles.Mark), elsewhere an empty value.
func (c caddyStore) Mark(ctx context.Context, key string) error {
	if c.g != nil {
		return c.g.Mark(key)
	}
	return c.s.Store(ctx, key, []byte{})
}

// MarkLazy implements store.LazyMarker: on the group-committed file
// storage an empty file made in place whose sync is the next Store's
// (groupFiles.MarkLazy), elsewhere Mark.
func (c caddyStore) MarkLazy(ctx context.Context, key string) error {
	if c.g != nil {
		return c.g.MarkLazy(key)
	}
	return c.Mark(ctx, key)
}

// Delete implements store.Store. Deleting a missing key is not an error.
func (c caddyStore) Delete(ctx context.Context, key string) error {
	if err := c.s.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List implements store.Store: the keys of values (not of directories)
// under prefix, sorted. A prefix nothing was stored under is empty.
func (c caddyStore) List(ctx context.Context, prefix string) ([]string, error) {
	if fsys, ok := c.s.(*certmagic.FileStorage); ok {
		return listFiles(ctx, fsys, prefix)
	}
	var keys []string
	var err error
	for attempt := 1; ; attempt++ {
		keys, err = c.s.List(ctx, prefix, true)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
		// Either nothing was ever stored under prefix, or a key was
		// deleted while the storage walked the prefix (the file system's
		// walk gives up then): the catalogue's journal files come and go
		// all the time, so list again.
		if _, serr := c.s.Stat(ctx, prefix); errors.Is(serr, fs.ErrNotExist) {
			return nil, nil
		}
		if attempt == 5 {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	out := keys[:0]
	for _, k := range keys {
		info, err := c.s.Stat(ctx, k)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if info.IsTerminal {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// listFiles is List on Caddy's file-system storage, in one walk that
// takes each entry's type from the directory read itself. The storage's
// own List stats every entry (lstat) and returns directories too, which
// List then told apart with a stat of every key: two system calls per
// key, which made a listing of 100,000 jobs cost about a second of CPU
// and delayed a broker's first answers after its start (the scale
// benchmark's first read). An entry that goes away during the walk (a
// journal file compacted, a job purged) is left out, as List's retry
// does on other storages.
func listFiles(ctx context.Context, fsys *certmagic.FileStorage, prefix string) ([]string, error) {
	var out []string
	err := walkFiles(ctx, fsys, prefix, func(key, _ string, _ fs.DirEntry) error {
		out = append(out, key)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// ListVersions implements store.Versioner: on the file system a key's
// version is its file's inode, size and modification time (a Store
// replaces the file, so the inode changes too); elsewhere the keys of
// List with the zero (unknown) version.
func (c caddyStore) ListVersions(ctx context.Context, prefix string) ([]store.KeyVersion, error) {
	fsys, ok := c.s.(*certmagic.FileStorage)
	if !ok {
		keys, err := c.List(ctx, prefix)
		out := make([]store.KeyVersion, len(keys))
		for i, k := range keys {
			out[i].Key = k
		}
		return out, err
	}
	var out []store.KeyVersion
	err := walkFiles(ctx, fsys, prefix, func(key, p string, d fs.DirEntry) error {
		info, err := d.Info()
		if d.Type()&fs.ModeSymlink != 0 {
			info, err = os.Stat(p)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone meanwhile
		}
		if err != nil {
			return err
		}
		out = append(out, store.KeyVersion{Key: key, Version: fileVersion(info)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.KeyVersion) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// walkFiles calls fn with the key, path and directory entry of every
// file under prefix, and of every link to a file (temporary files left
// out).
func walkFiles(ctx context.Context, fsys *certmagic.FileStorage, prefix string, fn func(key, path string, d fs.DirEntry) error) error {
	root := fsys.Filename(prefix)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile, or nothing stored under prefix
			}
			return err
		}
		if p == root || d.IsDir() || isTemp(d.Name()) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// A link is a key when what it names is not a directory.
			info, err := os.Stat(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if info.IsDir() {
				return nil
			}
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return fn(path.Join(prefix, filepath.ToSlash(rel)), p, d)
	})
}

// Count implements store.Counter: on the file system, a count of the
// directory entries under prefix, without making, sorting or returning
// the keys (max_jobs_per_owner's check, under the owner's lock, counts
// up to a thousand keys a create; over a thousand keys Count takes a
// quarter of List's time and a third of its allocations).
func (c caddyStore) Count(ctx context.Context, prefix string) (int, error) {
	fsys, ok := c.s.(*certmagic.FileStorage)
	if !ok {
		keys, err := c.List(ctx, prefix)
		return len(keys), err
	}
	return countFiles(ctx, fsys.Filename(prefix))
}

// countFiles counts what listFiles lists under dir: files (not temporary
// ones) and links to files, in dir and below it.
func countFiles(ctx context.Context, dir string) (int, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // gone meanwhile, or nothing stored under prefix
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		entries, err := f.ReadDir(256)
		for _, d := range entries {
			switch {
			case isTemp(d.Name()):
			case d.IsDir():
				sub, err := countFiles(ctx, filepath.Join(dir, d.Name()))
				if err != nil {
					return 0, err
				}
				n += sub
			case d.Type()&fs.ModeSymlink != 0:
				info, err := os.Stat(filepath.Join(dir, d.Name()))
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return 0, err
				}
				if info.IsDir() {
					continue
				}
				n++
			default:
				n++
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return 0, nil // a key's file: nothing is under it (as listFiles)
		}
		if err != nil {
			return 0, err
		}
	}
}

// Lock implements store.Store: the takers of a lock in this process
// queue in memory (lockQueue) before one of them asks the storage; a
// taker the previous holder handed the storage's lock to holds it
// already.
func (c caddyStore) Lock(ctx context.Context, name string) error {
	_, err := c.LockSession(ctx, name)
	return err
}

// LockSession implements store.SessionLocker: Lock, and the number of
// the unbroken holding of the storage's lock it continues or starts.
func (c caddyStore) LockSession(ctx context.Context, name string) (uint64, error) {
	q := c.lockNS + name
	handed, err := lockQueue.Acquire(ctx, q)
	if err != nil {
		return 0, err
	}
	if handed && !c.storageLockLost(name) {
		return lockQueue.Session(q), nil
	}
	if handed {
		// The storage's lock was lost while held here (broken as stale
		// by a peer, which holds it now): take it again.
		_ = c.unlockStorage(ctx, name)
	}
	if err := c.lockStorage(ctx, name); err != nil {
		lockQueue.Release(q)
		return 0, err
	}
	return lockQueue.Begin(q), nil
}

// lockStorage takes the storage's lock of name: on Caddy's file storage
// with an owner (filelock.go), elsewhere the storage's own Lock.
func (c caddyStore) lockStorage(ctx context.Context, name string) error {
	if fsys, ok := c.s.(*certmagic.FileStorage); ok {
		return lockFile(ctx, fsys, name)
	}
	return c.s.Lock(ctx, name)
}

// storageLockLost reports whether the storage's lock of name, held by
// this process, is known to be another's now: on Caddy's file storage,
// its refresh stopped because the file is gone or another's.
func (c caddyStore) storageLockLost(name string) bool {
	fsys, ok := c.s.(*certmagic.FileStorage)
	if !ok {
		return false
	}
	v, ok := fileLocks.Load(fileLockName(fsys, name))
	if !ok {
		return true
	}
	select {
	case <-v.(*heldFileLock).done:
		return true
	default:
		return false
	}
}

// LockLost implements store.LockKeeper: the storage's lock of name,
// taken here, was broken as stale by a peer (storageLockLost). On other
// storages nothing tells.
func (c caddyStore) LockLost(name string) bool { return c.storageLockLost(name) }

// unlockStorage releases what lockStorage took.
func (c caddyStore) unlockStorage(ctx context.Context, name string) error {
	if fsys, ok := c.s.(*certmagic.FileStorage); ok {
		return unlockFile(fsys, name)
	}
	return c.s.Unlock(ctx, name)
}

// Unlock implements store.Store. When another taker in this process
// waits for the lock, the storage's lock passes to it still held;
// otherwise it is released in the storage, then in the queue.
func (c caddyStore) Unlock(ctx context.Context, name string) error {
	q := c.lockNS + name
	if lockQueue.HandOver(q, func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.unlockStorage(uctx, name)
	}) {
		return nil
	}
	err := c.unlockStorage(ctx, name)
	lockQueue.Release(q)
	return err
}

// lockQueue is shared by every caddyStore of the process: the stores of
// a configuration being replaced and of its successor take the same
// storage's locks. Its names are the storage's identity and the lock's
// name: a storage's lock is handed over only to a taker of the same
// storage.
var lockQueue store.LockQueue

// storageIdentity names a storage in the lock queue: a file storage by
// its directory (two configurations' storages over one directory are
// one storage), any other by its type and address, or its type and
// value when it is not a pointer. Two storage modules over one backend
// (a reload of another storage module) are then two storages here: their
// takers contend in the backend, as they did before the queue.
func storageIdentity(s certmagic.Storage) string {
	if fsys, ok := s.(*certmagic.FileStorage); ok {
		return "file:" + filepath.Clean(fsys.Path) + "\x00"
	}
	if reflect.ValueOf(s).Kind() == reflect.Pointer {
		return fmt.Sprintf("%T@%p\x00", s, s)
	}
	return fmt.Sprintf("%T:%v\x00", s, s)
}

var (
	_ store.Store         = caddyStore{}
	_ store.Counter       = caddyStore{}
	_ store.SessionLocker = caddyStore{}
	_ store.Marker        = caddyStore{}
	_ store.LazyMarker    = caddyStore{}
	_ store.LockKeeper    = caddyStore{}
)

// contextStore returns the store over the context's configured storage,
// or an in-memory store for a context that was not made by loading a
// configuration (unit tests that provision an App directly), whose
// Storage method panics.
func contextStore(ctx caddy.Context) (s store.Store) {
	defer func() {
		if recover() != nil {
			s = new(store.Memory)
		}
	}()
	return newCaddyStore(ctx.Storage())
}

// NewStore returns the engine's store.Store over a Caddy storage, as the
// csb app uses it: the benchmarks fill a broker's storage with it before
// the broker starts.
func NewStore(s certmagic.Storage) store.Store { return newCaddyStore(s) }
