package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// dirStore is a store.Store on a directory, as Caddy's default file-system
// storage keeps jobs: nothing of a record stays in the process's heap.
type dirStore struct {
	dir   string
	mu    sync.Mutex
	locks map[string]chan struct{}
}

func (s *dirStore) path(key string) string { return filepath.Join(s.dir, filepath.FromSlash(key)) }

func (s *dirStore) Load(_ context.Context, key string) ([]byte, error) {
	data, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, store.ErrNotExist
	}
	return data, err
}

func (s *dirStore) Store(_ context.Context, key string, value []byte) error {
	p := s.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, value, 0o600)
}

func (s *dirStore) Delete(_ context.Context, key string) error {
	err := os.Remove(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *dirStore) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	sort.Strings(keys)
	return keys, err
}

func (s *dirStore) Lock(ctx context.Context, name string) error {
	for {
		s.mu.Lock()
		if s.locks == nil {
			s.locks = map[string]chan struct{}{}
		}
		ch, held := s.locks[name]
		if !held {
			s.locks[name] = make(chan struct{})
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *dirStore) Unlock(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.locks[name]; ok {
		close(ch)
		delete(s.locks, name)
	}
	return nil
}

// linkAdapter provisions SaaS jobs without keeping anything, like the
// Link adapter: the memory measured is the job engine's own.
type linkAdapter struct{}

func (linkAdapter) Provision(_ context.Context, req *contract.Request) (*contract.Resource, error) {
	return &contract.Resource{URI: "https://app.example/" + req.JobID, State: contract.StateReady, Granted: req.Want}, nil
}
func (linkAdapter) Status(_ context.Context, r *contract.Resource) (*contract.Resource, error) {
	return r, nil
}
func (linkAdapter) Update(_ context.Context, r *contract.Resource, _ *contract.Request) (*contract.Resource, error) {
	return r, nil
}
func (linkAdapter) Remove(context.Context, *contract.Resource) error { return nil }

// liveHeap returns the heap in use after a collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestLiveJobsHeap measures what live jobs cost the job manager's heap
// (the records are in storage): it must stay small per job, so that
// 10,000 live jobs fit in a few MiB besides the process.
func TestLiveJobsHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("creates thousands of jobs")
	}
	const n = 2000
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "apps"})
	cat.AddService("apps", csbmsg.Service{ID: "app", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app", Href: "https://app.example/"}}})
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"apps"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := jobs.New(jobs.Config{
		Store:        &dirStore{dir: t.TempDir()},
		Placer:       placer,
		Adapter:      func(string, catalog.Kind) (contract.Adapter, bool) { return linkAdapter{}, true },
		ReapInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	m.Start()
	req := &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app"}}}
	create := func(i int) {
		r, err := m.Create(context.Background(), fmt.Sprintf("user%d", i%10), req, jobs.CreateOptions{})
		if err != nil || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create %d: %v %+v", i, err, r)
		}
	}
	create(-1) // warm-up: pools, maps, code paths
	before := liveHeap()
	for i := 0; i < n; i++ {
		create(i)
	}
	after := liveHeap()
	per := float64(int64(after)-int64(before)) / n
	t.Logf("%d live jobs: %.0f bytes of heap each (%.2f MiB per 10,000)", n, per, per*10000/(1<<20))
	if per > 400 {
		t.Fatalf("%.0f bytes of heap per live job, want at most 400", per)
	}
}
