package caddymodule

import (
	"context"
	"errors"
	"io/fs"
	"sort"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// storageStore adapts Caddy's configured storage (certmagic.Storage: the
// file system by default, or any storage module a cluster shares) to the
// engine's store.Store.
type storageStore struct {
	s certmagic.Storage
}

func newStorageStore(s certmagic.Storage) store.Store { return storageStore{s} }

func (c storageStore) Load(ctx context.Context, key string) ([]byte, error) {
	return c.s.Load(ctx, key)
}

func (c storageStore) Store(ctx context.Context, key string, value []byte) error {
	return c.s.Store(ctx, key, value)
}

func (c storageStore) Delete(ctx context.Context, key string) error {
	err := c.s.Delete(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (c storageStore) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := c.s.List(ctx, prefix, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Keep files only: a recursive file-system listing includes the
	// directories, which are the keys that prefix another key.
	sort.Strings(keys)
	out := keys[:0]
	for i, k := range keys {
		if i+1 < len(keys) && len(keys[i+1]) > len(k) && keys[i+1][:len(k)+1] == k+"/" {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

func (c storageStore) Lock(ctx context.Context, name string) error { return c.s.Lock(ctx, name) }

func (c storageStore) Unlock(ctx context.Context, name string) error { return c.s.Unlock(ctx, name) }

var _ store.Store = storageStore{}
