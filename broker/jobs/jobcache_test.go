package jobs

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// TestJobCacheCloseWhileWriting: writes of jobs that go on while the
// manager stops neither panic (a send on ristretto's closed channel) nor
// block for good; reads after the close miss.
func TestJobCacheCloseWhileWriting(t *testing.T) {
	for round := 0; round < 200; round++ {
		c, err := ristretto.NewCache(&ristretto.Config[string, *cached]{NumCounters: 1000, MaxCost: 1 << 20, BufferItems: 64})
		if err != nil {
			t.Fatal(err)
		}
		jc := &jobCache{c: c}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					id := string(rune('a' + i%26))
					jc.set(id, &cached{key: id}, 10, time.Minute)
					jc.del(id)
					jc.get(id)
				}
			}()
		}
		jc.close()
		stop.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a cache write blocked after the close")
		}
		if _, ok := jc.get("a"); ok {
			t.Fatal("a closed cache answered a read")
		}
	}
}
