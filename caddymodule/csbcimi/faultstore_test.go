package csbcimi

// faultStorage, a Caddy storage module for the tests: Caddy's file-system
// storage whose writes of chosen keys fail (a full disk under one record),
// so that a test can see what the front-end answers when the broker
// cannot record an operation its provider carried out.

import (
	"context"
	"errors"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

func init() {
	caddy.RegisterModule(faultStorage{})
}

type faultStorage struct {
	Root string `json:"root"`
}

func (faultStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.storage.csbcimi_fault", New: func() caddy.Module { return new(faultStorage) }}
}

// CertMagicStorage implements caddy.StorageConverter. The storage is not
// a *certmagic.FileStorage (the broker's store then takes the storage's
// own Store, which faultyFiles intercepts).
func (s faultStorage) CertMagicStorage() (certmagic.Storage, error) {
	return faultyFiles{&certmagic.FileStorage{Path: s.Root}}, nil
}

// failing holds the keys whose writes fail; keys hold job ids, which no
// two tests share.
var failing sync.Map

// failStore makes the writes of key fail until the test ends.
func failStore(t interface{ Cleanup(func()) }, key string) {
	failing.Store(key, true)
	t.Cleanup(func() { failing.Delete(key) })
}

type faultyFiles struct{ *certmagic.FileStorage }

func (f faultyFiles) Store(ctx context.Context, key string, value []byte) error {
	if _, ok := failing.Load(key); ok {
		return errors.New("no space left on device")
	}
	return f.FileStorage.Store(ctx, key, value)
}

var _ caddy.StorageConverter = faultStorage{}
