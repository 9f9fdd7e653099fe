package caddymodule

import (
	"context"
	"errors"
	"io/fs"
	"sort"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// caddyStore adapts the configured Caddy storage (ctx.Storage(): the file
// system by default, or whatever storage module a cluster shares) to the
// engine's store.Store. Its locks are Caddy storage locks, so they are
// shared by every Caddy instance that shares the storage.
type caddyStore struct {
	s certmagic.Storage
}

// Load implements store.Store.
func (c caddyStore) Load(ctx context.Context, key string) ([]byte, error) {
	return c.s.Load(ctx, key)
}

// Store implements store.Store.
func (c caddyStore) Store(ctx context.Context, key string, value []byte) error {
	return c.s.Store(ctx, key, value)
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

// Lock implements store.Store.
func (c caddyStore) Lock(ctx context.Context, name string) error { return c.s.Lock(ctx, name) }

// Unlock implements store.Store.
func (c caddyStore) Unlock(ctx context.Context, name string) error { return c.s.Unlock(ctx, name) }

var _ store.Store = caddyStore{}

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
	return caddyStore{ctx.Storage()}
}

// NewStore returns the engine's store.Store over a Caddy storage, as the
// csb app uses it: the benchmarks fill a broker's storage with it before
// the broker starts.
func NewStore(s certmagic.Storage) store.Store { return caddyStore{s} }
