package csbosb

import (
	"context"
	"testing"
	"time"
)

// TestCleanupWaitsForBackgroundWork: the handler's Cleanup returns only
// once the background operations it started have ended, and no new one
// starts after it began.
func TestCleanupWaitsForBackgroundWork(t *testing.T) {
	h := &Handler{}
	h.broker = &osbBroker{h: h}
	release, started := make(chan struct{}), make(chan struct{})
	h.broker.background("drain-test", "op1", func(context.Context) {
		close(started)
		<-release
	})
	<-started
	cleaned := make(chan struct{})
	go func() {
		_ = h.Cleanup()
		close(cleaned)
	}()
	// Once Cleanup has begun (draining set), later work is refused.
	for {
		h.broker.workMu.Lock()
		d := h.broker.draining
		h.broker.workMu.Unlock()
		if d {
			break
		}
		time.Sleep(time.Millisecond) // polling a condition set by the goroutine above
	}
	ran := make(chan struct{}, 1)
	h.broker.background("drain-test-2", "op2", func(context.Context) { ran <- struct{}{} })
	select {
	case <-cleaned:
		t.Fatal("Cleanup returned while a background operation ran")
	default:
	}
	close(release)
	select {
	case <-cleaned:
	case <-time.After(5 * time.Second):
		t.Fatal("Cleanup did not return after the operation ended")
	}
	select {
	case <-ran:
		t.Fatal("a background operation started after Cleanup began")
	default:
	}
}
