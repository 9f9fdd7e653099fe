package store

import (
	"context"
	"testing"
)

type countingStore struct {
	*Memory
	n int
}

func (c countingStore) Count(context.Context, string) (int, error) { return c.n, nil }

// Count asks a store that counts (Counter) and lists any other.
func TestCount(t *testing.T) {
	ctx := context.Background()
	m := new(Memory)
	for _, k := range []string{"a/1", "a/2", "a/b/3", "b/1"} {
		if err := m.Store(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := Count(ctx, m, "a/"); err != nil || n != 3 {
		t.Fatalf("listed count %d %v, want 3", n, err)
	}
	if n, err := Count(ctx, countingStore{m, 42}, "a/"); err != nil || n != 42 {
		t.Fatalf("store's own count %d %v, want 42", n, err)
	}
}
