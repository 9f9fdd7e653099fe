package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

func TestPublishCaddyfileErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"csb {\ncatalog {\nsync_interval\n}\n}", "wrong argument count"},
		{"csb {\ncatalog {\nsync_interval soon\n}\n}", "sync_interval"},
		{"csb {\ncatalog {\ncache_size -3\n}\n}", "cache_size"},
		{"csb {\ncatalog {\nmax_services 0\n}\n}", "max_services"},
		{"csb {\ncatalog {\ncolour blue\n}\n}", "unrecognized option \"colour\""},
		{"csb {\ncatalog\ncatalog\n}", "catalog given twice"},
		{"csb {\nsubscriptions {\nrenew_at 1.5\n}\n}", "renew_at"},
		{"csb {\nsubscriptions {\nretry 5m 1s\n}\n}", "min <= max"},
		{"csb {\nsubscriptions {\nretry 5m\n}\n}", "want retry <min> <max>"},
		{"csb {\nsubscriptions {\nbogus\n}\n}", "unrecognized option \"bogus\""},
		{"csb {\nprovider p {\nsubscribe\n}\n}", "wrong argument count"},
		{"csb {\nprovider p {\nsubscribe ftp://x/\n}\n}", "not an http or https URL"},
		{"csb {\nprovider p {\nsubscribe https://x/ {\ncolour\n}\n}\n}", "unrecognized option \"colour\""},
		{"csb {\nprovider p {\nsubscribe https://x/\nsubscribe https://y/\n}\n}", "subscribe given twice"},
		{"csb {\nprovider p {\npublishers\n}\n}", "wrong argument count"},
		{"csb {\nprovider p {\npush\n}\n}", "needs the notification ids"},
		{"csb {\nprovider p {\npush a {\nttl 1s\n}\n}\n}", "unrecognized option \"ttl\""},
		{"csb {\nprovider p {\nservice\n}\n}", "wrong argument count"},
		{"csb {\nprovider p {\nservice s\n}\n}", "kind is required"},
		{"csb {\nprovider p {\nservice s {\nkind vaas\n}\n}\n}", "kind \"vaas\""},
		{"csb {\nprovider p {\nservice s {\nkind paas\ncompute {\ncores 2\n}\n}\n}\n}", "for kind iaas"},
		{"csb {\nprovider p {\nservice s {\nkind iaas\ncompute {\ncores many\n}\n}\n}\n}", "not a non-negative integer"},
		{"csb {\nprovider p {\nservice s {\nkind iaas\ncompute {\ncolour red\n}\n}\n}\n}", "unrecognized option \"colour\""},
		{"csb {\nprovider p {\nservice s {\nkind iaas\nnetwork {\nallocation sometimes\n}\n}\n}\n}", "allocation"},
		{"csb {\nprovider p {\nservice s {\nkind iaas\nstatus broken\n}\n}\n}", "status"},
		{"csb {\nprovider p {\nservice s {\nkind dsaas\nobjects data files\n}\n}\n}", "object kind \"files\""},
		{"csb {\nprovider p {\nservice s {\nkind iaas\nobjects data\n}\n}\n}", "objects are for kind dsaas"},
		{"csb {\nprovider p {\nservice s {\nkind saas\n}\nservice s {\nkind saas\n}\n}\n}", "declared twice"},
		{"csb {\nprovider p {\nservice s {\nkind saas\nflavour x\n}\n}\n}", "unrecognized option \"flavour\""},
		{"csb {\nprovider p {\nencryption_support maybe\n}\n}", "not a boolean"},
		{"csb {\nprovider p {\ndiscover never\n}\n}", "not a positive duration"},
		{"csb {\nprovider p {\ndiscover\ndiscover\n}\n}", "discover given twice"},
		{"csb {\nprovider p {\nlabel\n}\n}", "wrong argument count"},
	}
	for _, c := range cases {
		a := new(App)
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n  got error %v, want one containing %q", c.in, err, c.want)
		}
	}
}

func TestValidatePublish(t *testing.T) {
	cases := []struct {
		a    *App
		want string
	}{
		{&App{Providers: []*Provider{{ID: "a", Push: &Push{IDs: []string{"x"}}}, {ID: "b", Push: &Push{IDs: []string{"x"}}}}}, "push id"},
		{&App{Providers: []*Provider{{ID: "a", Discover: &Discovery{}}}}, "discover needs an adapter"},
		{&App{Providers: []*Provider{{ID: "a", Status: "sleepy"}}}, "status"},
		{&App{Providers: []*Provider{{ID: "a", Subscribe: &Subscribe{URL: "mailto:x"}}}}, "http or https"},
	}
	for _, c := range cases {
		if err := c.a.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

func TestCatalogConfig(t *testing.T) {
	cores := uint64(8)
	a := &App{Providers: []*Provider{
		{ID: "pub"},
		{ID: "static", Label: "gold", Services: []StaticService{
			{ID: "vm", Kind: "IaaS", Compute: &StaticCompute{Cores: &cores, Architecture: "x86_64"}},
			{ID: "wf", Kind: "paas", Link: &StaticLink{Rel: "workflow"}},
			{ID: "obj", Kind: "dsaas", Objects: []string{"data", "queue"}},
		}},
	}}
	cfg, err := a.catalogConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg) != 2 || cfg[0].Static != nil || cfg[1].Static == nil || cfg[1].Static.Label != "gold" {
		t.Fatalf("%+v", cfg)
	}
	svcs := cfg[1].Static.Services
	if catalog.KindOf(&svcs[0]) != catalog.KindIaaS || *svcs[0].IaaS.Compute.Cores != 8 ||
		catalog.KindOf(&svcs[1]) != catalog.KindPaaS || svcs[1].PaaS.Link.Rel != "workflow" ||
		svcs[2].DSaaS.DataObject == nil || svcs[2].DSaaS.QueueObject == nil || svcs[2].DSaaS.DomainObject != nil {
		t.Fatalf("services %+v", svcs)
	}
	if svcs[0].Status != "active" {
		t.Fatal("default status must be active")
	}
}

func TestCaddyStore(t *testing.T) {
	ctx := context.Background()
	var s store.Store = newCaddyStore(&certmagic.FileStorage{Path: t.TempDir()})
	if keys, err := s.List(ctx, "csb/catalog/"); err != nil || len(keys) != 0 {
		t.Fatalf("empty list: %v %v", keys, err)
	}
	for _, k := range []string{"csb/catalog/b", "csb/catalog/a", "csb/catalog/sub/c", "csb/other"} {
		if err := s.Store(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.List(ctx, "csb/catalog/")
	if err != nil || strings.Join(keys, ",") != "csb/catalog/a,csb/catalog/b,csb/catalog/sub/c" {
		t.Fatalf("list: %v %v", keys, err)
	}
	if v, err := s.Load(ctx, "csb/catalog/a"); err != nil || string(v) != "csb/catalog/a" {
		t.Fatalf("load: %q %v", v, err)
	}
	if err := s.Delete(ctx, "csb/catalog/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "csb/catalog/a"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if _, err := s.Load(ctx, "csb/catalog/a"); !errorsIsNotExist(err) {
		t.Fatalf("load of a deleted key: %v", err)
	}
	if err := s.Lock(ctx, "csb/subscriptions/p"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "csb/subscriptions/p"); err != nil {
		t.Fatal(err)
	}
}

func errorsIsNotExist(err error) bool { return errors.Is(err, store.ErrNotExist) }

// vanishingStorage fails its first n listings as the file system's walk
// does when a key is deleted while it walks.
type vanishingStorage struct {
	*certmagic.FileStorage
	n int
}

func (v *vanishingStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if v.n > 0 {
		v.n--
		return nil, &fs.PathError{Op: "lstat", Path: prefix + "gone", Err: fs.ErrNotExist}
	}
	return v.FileStorage.List(ctx, prefix, recursive)
}

// TestCaddyStoreListsWhileKeysVanish: a key deleted during a listing
// (the catalogue's journal files are deleted all the time) does not make
// the listing look empty.
func TestCaddyStoreListsWhileKeysVanish(t *testing.T) {
	ctx := context.Background()
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	s := newCaddyStore(&vanishingStorage{FileStorage: fsys, n: 2})
	if err := s.Store(ctx, "csb/catalog/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.List(ctx, "csb/catalog/"); err != nil || strings.Join(keys, ",") != "csb/catalog/a" {
		t.Fatalf("list: %v %v", keys, err)
	}
	// A walk that keeps failing is an error, not an empty listing.
	s = newCaddyStore(&vanishingStorage{FileStorage: fsys, n: 100})
	if keys, err := s.List(ctx, "csb/catalog/"); err == nil {
		t.Fatalf("list: %v without an error", keys)
	}
	// With real deletions going on, the key that stays is always listed.
	s = newCaddyStore(fsys)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprintf("csb/catalog/tmp%d", i%8)
			_ = s.Store(ctx, k, []byte("x"))
			_ = s.Delete(ctx, k)
		}
	}()
	for range 200 {
		keys, err := s.List(ctx, "csb/catalog/")
		if err != nil || !slices.Contains(keys, "csb/catalog/a") {
			close(stop)
			<-done
			t.Fatalf("list during deletions: %v %v", keys, err)
		}
	}
	close(stop)
	<-done
}
