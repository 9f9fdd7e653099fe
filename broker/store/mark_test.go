package store_test

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// markingStore is a Memory that records its Mark calls.
type markingStore struct {
	store.Memory
	marked []string
}

func (s *markingStore) Mark(ctx context.Context, key string) error {
	s.marked = append(s.marked, key)
	return s.Store(ctx, key, nil)
}

// Mark uses a store's own Mark when it has one, and else stores an
// empty value: either way the key is listed.
func TestMark(t *testing.T) {
	ctx := context.Background()
	var plain store.Memory
	if err := store.Mark(ctx, &plain, "idx/a/1"); err != nil {
		t.Fatal(err)
	}
	if v, err := plain.Load(ctx, "idx/a/1"); err != nil || len(v) != 0 {
		t.Fatalf("marked key on a plain store: %q, %v", v, err)
	}
	m := &markingStore{}
	if err := store.Mark(ctx, m, "idx/a/2"); err != nil {
		t.Fatal(err)
	}
	if len(m.marked) != 1 || m.marked[0] != "idx/a/2" {
		t.Fatalf("the store's own Mark was not used: %v", m.marked)
	}
	if keys, _ := m.List(ctx, "idx/a/"); len(keys) != 1 {
		t.Fatalf("listing after Mark: %v", keys)
	}
}
