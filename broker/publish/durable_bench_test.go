package publish

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// syncedFileStore is a store.Store on a directory that writes the way
// Caddy's file-system storage does (certmagic's atomic write: a temporary
// file, fsync, rename), so that a benchmark pays what a broker pays for
// durability. With noSync it skips the fsync: storage much faster than a
// disk (a network store's memory, a battery-backed cache). It counts
// writes.
type syncedFileStore struct {
	store.Memory // locks only
	dir          string
	noSync       bool
	writes       atomic.Int64
}

func (s *syncedFileStore) path(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key))
}

func (s *syncedFileStore) Store(_ context.Context, key string, value []byte) error {
	s.writes.Add(1)
	name := s.path(key)
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(value)
	if err == nil && !s.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

func (s *syncedFileStore) Load(_ context.Context, key string) ([]byte, error) {
	return os.ReadFile(s.path(key))
}

func (s *syncedFileStore) Delete(_ context.Context, key string) error {
	err := os.Remove(s.path(key))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

func (s *syncedFileStore) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	root := s.path(prefix)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".tmp-") {
			rel, _ := filepath.Rel(s.dir, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(keys)
	return keys, err
}

// BenchmarkIngestDurable is BenchmarkIngest with the acknowledgement's
// storage write: the catalogue on a file store, many providers notifying
// at once (64 goroutines per -cpu), the compaction loop running. It
// reports notifications/s and the storage writes per notification
// (journal files plus compacted records): the group commit's batching.
// synced writes like Caddy's file storage (fsync); unsynced is storage
// much faster than a disk, where batches stay small unless a flush waits
// for the notifications being parsed (catalog.Options.CommitWait).
func BenchmarkIngestDurable(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "synced"
		if !sync {
			name = "unsynced"
		}
		b.Run(name, func(b *testing.B) { benchIngestDurable(b, &syncedFileStore{dir: b.TempDir(), noSync: !sync}) })
	}
}

// BenchmarkIngestBatch is the publish benchmark's load in process: 256
// providers notifying at once (128 goroutines per -cpu) on the synced
// file store, with the commit batch (catalog.DefaultCommitBatch) and
// without it (the spacing always waited out). It reports, besides the
// rate and the writes per notification, the process's CPU time per
// notification (getrusage): what the batch's extra writes cost.
func BenchmarkIngestBatch(b *testing.B) {
	for _, batch := range []int{0, -1} {
		name := "batch"
		if batch < 0 {
			name = "spacing-only"
		}
		b.Run(name, func(b *testing.B) {
			benchIngestDurableOpt(b, &syncedFileStore{dir: b.TempDir()}, batch, 128)
		})
	}
}

func benchIngestDurable(b *testing.B, st *syncedFileStore) {
	benchIngestDurableOpt(b, st, 0, 64)
}

func benchIngestDurableOpt(b *testing.B, st *syncedFileStore, batch, parallelism int) {
	tpl := newB1Template(b)
	cat, err := catalog.New(catalog.Options{Store: st, SyncInterval: -1, CommitBatch: batch})
	if err != nil {
		b.Fatal(err)
	}
	cat.Start()
	defer cat.Close(context.Background())
	ing := NewIngester(IngestOptions{Catalog: cat})
	sample := tpl.build(nil, "QQ6J3c", 1)
	b.SetBytes(int64(len(sample)))
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	w0 := st.writes.Load()
	cpu0 := processCPU(b)
	b.RunParallel(ingestInSequence(b, ing, tpl, 1024))
	b.StopTimer()
	reportRate(b)
	b.ReportMetric(float64(st.writes.Load()-w0)/float64(b.N), "writes/msg")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
