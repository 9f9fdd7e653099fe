package caddymodule

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// Group-committed writes to Caddy's file-system storage.
//
// certmagic's FileStorage.Store writes each value to a temporary file,
// fsyncs it and renames it over the key's file: durable contents, an
// atomic replace. An fsync waits for the disk, and on ext4 every one
// forces a journal commit of its own, so a broker creating jobs from
// many connections at once spent most of each create waiting for fsyncs
// in turn (each create stores its job file and owner index key), with
// the processor half idle.
//
// groupFiles keeps the same guarantees and shares the wait: each Store
// writes its temporary file, then joins the next sync, and renames its
// file into place once that sync has returned. A Store that finds no
// sync running syncs its own file at once (fsync, as certmagic); Stores
// that arrive while a sync runs share the one after it, a file-system
// sync (syncfs(2): one call for every file written before it) when there
// are several of them. As with certmagic, a value is durable and whole
// before its key shows it. Unlike certmagic, a Store returns only once
// the rename is durable too (a sync of the file system after it, shared
// by the renames made meanwhile: entrySync; elsewhere an fsync of the
// key's directory): the
// write-ahead log's callers call a provider once its Store returned, and
// a rename left to the file system's next commit (ext4: up to 5 s later)
// was lost with a crash meanwhile, leaving the provider's resource to
// nobody. A directory sync that fails counts as a failed sync; the key
// shows the value then, but the Store fails.
//
// Index entries, keys whose value nobody reads, need neither a
// temporary file nor a rename: Mark makes the key's file empty in place
// and joins the next sync; MarkLazy makes it and leaves it to the next
// Store's sync, which then syncs the whole file system.
//
// A sync reports a write-back error once. Since Linux 5.8 a failed
// write-back of any file marks its file system (errseq_t), and syncfs
// reports the mark to the first syncfs on the same descriptor (here the
// storage root's, kept open) that follows it, and to no later one. The
// syncfs of a group can write back the pages of a Store still queued
// for the next sync (they were dirty when it walked the inodes): if that
// write-back fails, it reports the failure to its own waiters, and the
// next sync, the queued Store's, returns success for a value that never
// reached the disk. So a writer reads the count of failed syncs
// (failures) before it begins its file, and is acknowledged only if the
// count is the same once its own sync has returned: a failed sync fails
// its waiters, the writers queued for the next sync and those that began
// before it returned and join a later one. The count is read before the
// write, not after it: a sync can write back a file half written, and
// one that failed meanwhile, counted after the write ended, would be
// missed. No failure is told apart by the file it was of, since a sync
// may cover more than its files: an fsync of a lone file reports the
// errors of that file's pages since its descriptor was opened, and does
// not move the root descriptor's mark, so it hides nothing from a later
// syncfs (nor does a syncfs hide a file's error from an fsync of that
// file's own descriptor); a failed fsync is counted all the same, which
// costs nothing until a sync fails. Mark counts as a Store. A sync of
// every file vouches for the lazy marks it covers too: it fails its
// writers when a sync failed after the first of those marks began
// (lazyFrom), and the marks stay pending for the next sync of every
// file. That reports a failure that may have been a mark's to writers
// who vouched for the mark, though not always to the one relying on it
// (the first Store to begin after MarkLazy returned may join a later
// sync). What keeps marks durable is that they are empty files: their
// durability is their inode and directory entry, metadata that
// journalling file systems write through the journal, whose failure
// aborts it and fails every later sync; the once-only report is of file
// pages, of which a mark has none. Without failures a writer costs one
// atomic load more, and no system call.
//
// No library offers this: certmagic syncs per file, and the group
// commit has to share the storage's own file layout (Filename) so that
// every Caddy instance and certmagic itself read the keys as before.
// Where syncfs is not available (not Linux) Store is certmagic's.
type groupFiles struct {
	fs *certmagic.FileStorage
	// sync makes the given files durable, and may sync more (every file
	// written before the call); with all, every file written before the
	// call. nil: not available here.
	sync func(files []tempFile, all bool) error
	// syncAll makes every rename made before the call durable (a sync
	// of the file system); nil: not available here. syncDir, set by
	// tests, replaces it; with neither, a rename's directory is synced
	// (syncDirectory).
	syncAll func() error
	syncDir func(dir string) error
	// entries groups the syncs that make renames durable.
	entries entrySync

	// failures counts the syncs that failed: changed by the goroutine
	// that ran the sync, before any writer hears of its end.
	failures atomic.Uint64

	mu      sync.Mutex
	syncing bool
	next    []waiter // writers waiting for the sync after the running one
	// unsynced: a MarkLazy made a file since the last sync began; the
	// next sync is of every file (all). lazyFrom: failures when the
	// first of those marks began.
	unsynced bool
	lazyFrom uint64
	lastErr  error // the last failed sync's
}

type waiter struct {
	f    tempFile
	from uint64 // failures when the writer began its file
	done chan error
}

// tempPrefix starts the names of the temporary files; List leaves them
// out (listFiles).
const tempPrefix = ".csb-tmp-"

var (
	groupMu  sync.Mutex
	groupFor = map[string]*groupFiles{} // storage root → its writer, shared across config reloads
)

// groupFilesOf returns the group writer of a file storage's root.
func groupFilesOf(fsys *certmagic.FileStorage) *groupFiles {
	root := filepath.Clean(fsys.Path)
	groupMu.Lock()
	defer groupMu.Unlock()
	g := groupFor[root]
	if g == nil {
		g = &groupFiles{fs: &certmagic.FileStorage{Path: root}}
		g.sync = fsSync(root)
		if g.sync != nil {
			sync := g.sync
			g.syncAll = func() error { return sync(nil, true) }
		}
		groupFor[root] = g
		if g.sync != nil {
			sweepTemps(filepath.Join(root, "csb"))
		}
	}
	return g
}

// A Store's temporary file lives for one write and one sync. One that a
// killed process left is deleted by the sweeps of the processes sharing
// the storage. A sweeper judges a file by what it saw itself, on its own
// clock, not by the file's modification time: that comes from the clock
// of the machine that wrote it, or of the file server, and a sweeper
// whose clock ran a minute ahead of it took every file a live peer was
// about to rename for a dead one's, and failed the peer's Store. A sweep
// deletes the temporary files that the previous sweep saw, unchanged;
// the first looks when the process first writes to the storage, the
// second tempSweepFirst later (what a process killed before the restart
// left, as soon as it can no longer be in use), later ones every
// tempSweepEvery.
const (
	tempSweepFirst = 30 * time.Second
	tempSweepEvery = 10 * time.Minute
)

// sweepTemps starts the sweeps of dir (see tempSweepFirst).
func sweepTemps(dir string) {
	s := &tempSweeper{dir: dir}
	go func() {
		s.sweep()
		time.AfterFunc(tempSweepFirst, func() {
			s.sweep()
			var again func()
			again = func() {
				s.sweep()
				time.AfterFunc(tempSweepEvery, again)
			}
			time.AfterFunc(tempSweepEvery, again)
		})
	}()
}

// tempSweeper sweeps a directory's temporary files; its sweeps run one
// at a time.
type tempSweeper struct {
	dir  string
	seen map[string]fs.FileInfo // the temporary files the last sweep saw and left
}

// sweep deletes, under dir, the temporary files the previous sweep saw
// and that have not changed since (same file, size and modification
// time): what a process killed between a write and its rename left.
// They hold nothing anybody was told was stored. It remembers the
// others for the next sweep.
func (s *tempSweeper) sweep() {
	now := map[string]fs.FileInfo{}
	_ = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isTemp(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if was, ok := s.seen[p]; ok && os.SameFile(was, info) && was.Size() == info.Size() && was.ModTime().Equal(info.ModTime()) {
			_ = os.Remove(p)
			return nil
		}
		now[p] = info
		return nil
	})
	s.seen = now
}

// Store writes value as key's file, durably, sharing the sync with the
// Stores running meanwhile.
func (g *groupFiles) Store(key string, value []byte) error {
	name := g.fs.Filename(key)
	from := g.failures.Load()
	f, err := writeTemp(filepath.Dir(name), value)
	if err != nil {
		return err
	}
	err = g.commit(f, from)
	if cerr := f.close(); err == nil {
		err = cerr
	}
	if err == nil {
		// rename(2) itself: os.Rename first stats the target to refuse a
		// directory there, which rename(2) refuses too (EISDIR).
		err = renameFile(f.name, name)
	}
	if err != nil {
		_ = os.Remove(f.name)
		return err
	}
	return g.entryDurable(filepath.Dir(name), from)
}

// entryDurable makes the rename into dir durable, and answers the writer
// that began at from. The syncs of renames are grouped as the syncs of
// values are (entrySync): the renames made while one runs share the
// next, a sync of the whole file system (syncfs(2), which covers every
// directory) where the system has one. A failed sync is counted as a
// failed sync of values: it may have covered other writers' renames, and
// a second sync may not report it.
func (g *groupFiles) entryDurable(dir string, from uint64) error {
	if err := g.entries.run(func() error { return g.syncEntries(dir) }); err != nil {
		g.mu.Lock()
		g.lastErr = err
		g.failures.Add(1)
		g.mu.Unlock()
		return fmt.Errorf("the value is in place but may not survive a crash: %w", err)
	}
	return g.answer(nil, g.failures.Load(), from)
}

// syncEntries makes the renames made so far durable: those into dir, and
// with a file-system sync every other.
func (g *groupFiles) syncEntries(dir string) error {
	switch {
	case g.syncDir != nil:
		return g.syncDir(dir)
	case g.syncAll != nil:
		return g.syncAll()
	default:
		return syncDirectory(dir)
	}
}

// entrySync runs a sync for every caller that arrived before it began:
// the first caller while none runs syncs at once; callers meanwhile wait
// for the next sync, which one goroutine runs for all of them. Its
// callers' syncs must be interchangeable (each covers what the others
// would): entryDurable's are syncs of the whole file system.
type entrySync struct {
	mu      sync.Mutex
	running bool
	next    []chan error
}

func (e *entrySync) run(sync func() error) error {
	e.mu.Lock()
	if e.running {
		done := make(chan error, 1)
		e.next = append(e.next, done)
		e.mu.Unlock()
		return <-done
	}
	e.running = true
	e.mu.Unlock()
	err := sync()
	e.handOver(sync)
	return err
}

// handOver ends a sync: the callers that queued during it get one more,
// run in the background by whoever ended the previous one.
func (e *entrySync) handOver(sync func() error) {
	e.mu.Lock()
	batch := e.next
	e.next = nil
	if len(batch) == 0 {
		e.running = false
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	go func() {
		err := sync()
		for _, done := range batch {
			done <- err
		}
		e.handOver(sync)
	}()
}

// Mark makes key's file, empty, durably: an index entry, which nobody
// reads but by its name (store.Marker). An empty file cannot be read
// half-written, so it needs no temporary file and no rename: one create
// (O_EXCL) in place, the shared sync, a close; a job create's owner
// index key cost two system calls and two changes of its directory more
// through Store. A key that already exists is stored through Store, so
// that it is durable when Mark returns whoever made it; a failed sync
// removes the file made, as Store leaves nothing behind.
func (g *groupFiles) Mark(key string) error {
	name := g.fs.Filename(key)
	from := g.failures.Load()
	f, err := createMark(name)
	if errors.Is(err, fs.ErrExist) {
		return g.Store(key, nil)
	}
	if err != nil {
		return err
	}
	err = g.commit(f, from)
	if cerr := f.close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}

// createMark creates the file name, which must not exist (O_EXCL),
// making its directory if missing.
func createMark(name string) (tempFile, error) {
	f, err := createTemp(name)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(name), 0o700); err == nil {
			f, err = createTemp(name)
		}
	}
	return f, err
}

// MarkLazy makes key's file, empty, in place, and leaves its durability
// to the next sync (store.LazyMarker): the first Store to begin after
// MarkLazy returns, whoever calls it, syncs the whole file system
// instead of its own file alone, and so makes the key durable before it
// returns. A job create's owner index key is followed by the job's
// write-ahead record before anything else happens: one sync for both
// instead of two in a row on a create's path. A key that exists is
// left as it is (made before, it is durable or awaits the same sync).
func (g *groupFiles) MarkLazy(key string) error {
	name := g.fs.Filename(key)
	from := g.failures.Load()
	f, err := createMark(name)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	g.mu.Lock()
	if !g.unsynced || from < g.lazyFrom {
		g.lazyFrom = from
	}
	g.unsynced = true
	g.mu.Unlock()
	return f.close()
}

// writeTemp writes value to a new temporary file in dir (made if
// missing) and returns it, open.
func writeTemp(dir string, value []byte) (tempFile, error) {
	for attempt := 0; ; attempt++ {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		name := filepath.Join(dir, tempPrefix+hex.EncodeToString(rnd[:]))
		f, err := createTemp(name)
		if errors.Is(err, fs.ErrNotExist) && attempt == 0 {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return tempFile{}, err
			}
			continue
		}
		if errors.Is(err, fs.ErrExist) && attempt < 3 {
			continue
		}
		if err != nil {
			return tempFile{}, err
		}
		if err := f.write(value); err != nil {
			_ = f.close()
			_ = os.Remove(name)
			return tempFile{}, err
		}
		return f, nil
	}
}

// commit returns once f is on disk: the first caller while no sync runs
// syncs f at once; callers meanwhile wait for the next sync, which one
// goroutine runs for all of them. from is failures when the caller began
// writing f: a sync that failed since fails it too.
func (g *groupFiles) commit(f tempFile, from uint64) error {
	g.mu.Lock()
	if g.syncing {
		done := make(chan error, 1)
		g.next = append(g.next, waiter{f, from, done})
		g.mu.Unlock()
		return <-done
	}
	g.syncing = true
	all, lazyFrom := g.takeUnsynced()
	g.mu.Unlock()
	err := g.ended(g.sync([]tempFile{f}, all), all, lazyFrom)
	err = g.answer(err, g.failures.Load(), from)
	g.handOver()
	return err
}

// takeUnsynced reports whether a lazy mark awaits a sync, and since
// which count of failures, and clears it: the sync the caller begins
// covers it. g.mu is held.
func (g *groupFiles) takeUnsynced() (bool, uint64) {
	all := g.unsynced
	g.unsynced = false
	return all, g.lazyFrom
}

// ended records the end of a sync, run by its caller before anyone hears
// of it, and returns its error for every writer waiting for it: a failed
// sync is counted (see the comment at the top). A sync of every file
// (all) that covered lazy marks fails as well when a sync failed since
// the first of them began (lazyFrom): that one may have reported a
// mark's failure to writers who did not vouch for it. The lazy marks of
// a sync of every file that failed either way stay pending, so that the
// next sync covers them: they are durable no later than the first Store
// that succeeds after MarkLazy.
func (g *groupFiles) ended(err error, all bool, lazyFrom uint64) error {
	if err == nil && (!all || g.failures.Load() == lazyFrom) {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.lastErr = err
		g.failures.Add(1)
	} else {
		err = fmt.Errorf("an index entry this sync covered may not be durable, a sync failed after it was made: %w", g.lastErr)
	}
	if all && !g.unsynced {
		g.unsynced = true
		g.lazyFrom = g.failures.Load()
	}
	return err
}

// answer returns a writer's answer once its sync has ended with err:
// err, or an error when a sync failed (failures, read after the end)
// since the writer began its file (from).
func (g *groupFiles) answer(err error, failures, from uint64) error {
	if err != nil || failures == from {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Errorf("a sync that may have written this value back failed: %w", g.lastErr)
}

// handOver ends a sync: the writers that queued during it get a sync of
// their own, run in the background by whoever ended the previous one.
func (g *groupFiles) handOver() {
	g.mu.Lock()
	batch := g.next
	g.next = nil
	if len(batch) == 0 {
		g.syncing = false
		g.mu.Unlock()
		return
	}
	all, lazyFrom := g.takeUnsynced()
	g.mu.Unlock()
	go func() {
		files := make([]tempFile, len(batch))
		for i, w := range batch {
			files[i] = w.f
		}
		err := g.ended(g.sync(files, all), all, lazyFrom)
		failures := g.failures.Load()
		for _, w := range batch {
			w.done <- g.answer(err, failures, w.from)
		}
		g.handOver()
	}()
}

// isTemp reports whether a file name is one of groupFiles' temporary
// files.
func isTemp(base string) bool { return strings.HasPrefix(base, tempPrefix) }
