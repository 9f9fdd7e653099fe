package caddymodule

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// hiddenFS is a file-system storage List cannot recognise: it takes the
// path every other storage takes.
type hiddenFS struct{ certmagic.Storage }

// TestListFilesMatchesTheStorageList: on Caddy's file-system storage, List
// walks the directory entries itself (listFiles); it answers exactly what
// the generic path (the storage's List, then a stat of every key) answers:
// the keys of values under the prefix, sorted, without directories, with
// a link to a value and without a link to a directory; nothing for a
// prefix nothing is stored under. Count (countFiles) counts the same
// keys.
func TestListFilesMatchesTheStorageList(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fsys := &certmagic.FileStorage{Path: dir}
	for _, k := range []string{"csb/jobs/job/b", "csb/jobs/job/a", "csb/jobs/owner/h1/a", "csb/jobs/owner/h2/b", "csb/other/x"} {
		if err := fsys.Store(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "csb/jobs/job/emptydir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "csb/other/x"), filepath.Join(dir, "csb/jobs/job/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "csb/other"), filepath.Join(dir, "csb/jobs/job/dirlink")); err != nil {
		t.Fatal(err)
	}
	fast, slow := newCaddyStore(fsys), newCaddyStore(hiddenFS{fsys})
	for _, prefix := range []string{"csb/jobs/job/", "csb/jobs/owner/", "csb/jobs", "csb/", "csb/none/", "csb/other/x"} {
		got, err := fast.List(ctx, prefix)
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		want, err := slow.List(ctx, prefix)
		if err != nil {
			t.Fatalf("%s (storage's List): %v", prefix, err)
		}
		// Count (max_jobs_per_owner's check) counts what List lists.
		if n, err := fast.Count(ctx, prefix); err != nil || n != len(got) {
			t.Errorf("%s: Count %d %v, List %d keys", prefix, n, err, len(got))
		}
		if n, err := slow.Count(ctx, prefix); err != nil || n != len(want) {
			t.Errorf("%s (storage's List): Count %d %v, List %d keys", prefix, n, err, len(want))
		}
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, the storage's List gives %q", prefix, got, want)
		}
		// ListVersions (the reaper's memo) lists what List lists, each
		// with a known version; other storages' versions are unknown.
		for _, s := range []caddyStore{fast, slow} {
			kvs, err := s.ListVersions(ctx, prefix)
			if err != nil || len(kvs) != len(got) {
				t.Fatalf("%s: ListVersions %d keys %v, List %d", prefix, len(kvs), err, len(got))
			}
			for i, kv := range kvs {
				if kv.Key != got[i] || kv.Version.Same(kv.Version) != (s == fast) {
					t.Errorf("%s: ListVersions[%d] %+v (file storage %v), List %q", prefix, i, kv, s == fast, got[i])
				}
			}
		}
	}
	// A key's version changes when its value is replaced, even by one of
	// the same size, and only then.
	version := func(key string) store.Version {
		t.Helper()
		kvs, err := fast.ListVersions(ctx, "csb/jobs/job/")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			if kv.Key == key {
				return kv.Version
			}
		}
		t.Fatalf("%s not listed: %+v", key, kvs)
		return store.Version{}
	}
	v1 := version("csb/jobs/job/a")
	if v := version("csb/jobs/job/a"); !v.Same(v1) {
		t.Fatalf("version of an unchanged key: %v then %v", v1, v)
	}
	if err := fast.Store(ctx, "csb/jobs/job/a", []byte("csb/jobs/job/A")); err != nil {
		t.Fatal(err)
	}
	if v := version("csb/jobs/job/a"); v.Same(v1) {
		t.Fatalf("version of a replaced key unchanged: %v", v)
	}
	// A write's temporary file is neither listed nor counted.
	if err := os.WriteFile(filepath.Join(dir, "csb/jobs/job", tempPrefix+"0123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ := fast.List(ctx, "csb/jobs/job/")
	if want := []string{"csb/jobs/job/a", "csb/jobs/job/b", "csb/jobs/job/link"}; !reflect.DeepEqual(got, want) {
		t.Errorf("jobs: %q, want %q", got, want)
	}
	if n, err := fast.Count(ctx, "csb/jobs/job/"); err != nil || n != 3 {
		t.Errorf("jobs: Count %d %v, want 3", n, err)
	}
}
