package caddymodule

import (
	"context"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// enginePool holds the broker's long-lived engine state across config
// reloads: one engineState per process, created by the first csb app that
// provisions and destroyed (background work stopped) when the last config
// using it is cleaned up.
var enginePool = caddy.NewUsagePool()

const engineKey = "csb"

// engineState is the engine objects that outlive a config load.
//
// This is the minimal version the consumer helper needed before the
// publish helper's state.go landed; it holds what both need: the store
// adapter over Caddy's storage, the catalogue, and the job manager.
type engineState struct {
	Store   store.Store
	Catalog *catalog.Catalog

	mu       sync.Mutex
	consumer *consumerEngine
}

// loadEngineState returns the process's engine state, creating it on the
// first call. Every call must be paired with releaseEngineState.
func loadEngineState(ctx caddy.Context) (*engineState, error) {
	v, _, err := enginePool.LoadOrNew(engineKey, func() (caddy.Destructor, error) {
		st := &engineState{Store: contextStore(ctx)}
		cat, err := catalog.New(catalog.Options{Store: st.Store, Logger: ctx.Logger().Named("catalog")})
		if err != nil {
			return nil, err
		}
		lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, _, err := cat.Load(lctx); err != nil {
			ctx.Logger().Warn("loading the catalogue from storage", zap.Error(err))
		}
		st.Catalog = cat
		return st, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*engineState), nil
}

// contextStore returns the store over the context's configured storage,
// or an in-memory store for a context that was not made by loading a
// configuration (unit tests), whose Storage method panics.
func contextStore(ctx caddy.Context) (s store.Store) {
	defer func() {
		if recover() != nil {
			s = new(store.Memory)
		}
	}()
	return newStorageStore(ctx.Storage())
}

func releaseEngineState() {
	_, _ = enginePool.Delete(engineKey)
}

// consumerEngine returns the job engine, creating it with mk the first
// time.
func (s *engineState) consumerEngine(mk func() (*consumerEngine, error)) *consumerEngine {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.consumer == nil {
		e, err := mk()
		if err != nil {
			return nil
		}
		s.consumer = e
	}
	return s.consumer
}

// Destruct stops the engine's background work when the last config using
// it goes away.
func (s *engineState) Destruct() error {
	s.mu.Lock()
	c := s.consumer
	s.mu.Unlock()
	c.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Catalog.Close(ctx)
}

var _ caddy.Destructor = (*engineState)(nil)
