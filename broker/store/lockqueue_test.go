package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A name is held by one taker at a time; the next is let in at the
// release; a taker whose context ends stops waiting and leaves no trace;
// releasing a name nobody holds changes nothing.
func TestLockQueue(t *testing.T) {
	var q LockQueue
	ctx := context.Background()
	q.Release("free") // nobody holds it
	if err := q.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := q.Acquire(ctx, "b"); err != nil {
		t.Fatal("another name is independent:", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := q.Acquire(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a held name was taken again: %v", err)
	}
	if w := q.Waiting("a"); w != 0 {
		t.Fatalf("a taker that gave up still waits: %d", w)
	}
	got := make(chan error, 1)
	go func() { got <- q.Acquire(ctx, "a") }()
	for q.Waiting("a") != 1 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-got:
		t.Fatalf("taken while held: %v", err)
	default:
	}
	q.Release("a")
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	q.Release("a")
	q.Release("b")
	q.mu.Lock()
	left := len(q.names)
	q.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d names kept after every release", left)
	}
}
