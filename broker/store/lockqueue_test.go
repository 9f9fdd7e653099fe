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
	if _, err := q.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Acquire(ctx, "b"); err != nil {
		t.Fatal("another name is independent:", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := q.Acquire(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a held name was taken again: %v", err)
	}
	if w := q.Waiting("a"); w != 0 {
		t.Fatalf("a taker that gave up still waits: %d", w)
	}
	got := make(chan error, 1)
	go func() {
		handed, err := q.Acquire(ctx, "a")
		if err == nil && handed {
			err = errors.New("a plain release handed the storage's lock over")
		}
		got <- err
	}()
	waitFor(t, &q, "a", 1)
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
	if left := names(&q); left != 0 {
		t.Fatalf("%d names kept after every release", left)
	}
}

// HandOver passes the storage's lock to a waiting taker (which then
// holds it without asking the storage) and does nothing without one;
// when every waiter gives up, the storage's lock handed over is released
// once.
func TestLockQueueHandOver(t *testing.T) {
	var q LockQueue
	ctx := context.Background()
	unlocks := 0
	unlock := func() { unlocks++ }
	if _, err := q.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if q.HandOver("a", unlock) {
		t.Fatal("handed over with nobody waiting")
	}
	handed := make(chan bool, 1)
	go func() {
		h, err := q.Acquire(ctx, "a")
		if err != nil {
			t.Error(err)
		}
		handed <- h
	}()
	waitFor(t, &q, "a", 1)
	if !q.HandOver("a", unlock) {
		t.Fatal("not handed over to a waiter")
	}
	if !<-handed {
		t.Fatal("the waiter was not told it holds the storage's lock")
	}
	// The new holder hands over to a waiter that gives up: the queue
	// releases the storage's lock, once.
	short, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := q.Acquire(short, "a")
		gaveUp <- err
	}()
	waitFor(t, &q, "a", 1)
	if !q.HandOver("a", unlock) {
		t.Fatal("not handed over to the second waiter")
	}
	cancel()
	if err := <-gaveUp; err == nil {
		// It took the name before it gave up: it holds the storage's
		// lock and releases it as a holder does.
		if q.HandOver("a", unlock) {
			t.Fatal("handed over with nobody waiting")
		}
		unlock()
		q.Release("a")
	}
	if unlocks != 1 || names(&q) != 0 {
		t.Fatalf("storage unlocks %d, names kept %d; want 1 and 0", unlocks, names(&q))
	}
}

func waitFor(t *testing.T, q *LockQueue, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.Waiting(name) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d takers of %s never waited", n, name)
		}
		time.Sleep(time.Millisecond)
	}
}

func names(q *LockQueue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.names)
}
