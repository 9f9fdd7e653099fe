package safecache

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// TestCloseWhileWriting: writes that go on while the cache is closed
// neither panic (a send on ristretto's closed channel) nor block for
// good; reads after the close miss.
func TestCloseWhileWriting(t *testing.T) {
	for round := 0; round < 200; round++ {
		c, err := New(&ristretto.Config[string, *int]{NumCounters: 1000, MaxCost: 1 << 20, BufferItems: 64})
		if err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					id := string(rune('a' + i%26))
					c.Set(id, &i, 10, time.Minute)
					c.Del(id)
					c.Get(id)
				}
			}()
		}
		c.Close()
		stop.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a cache write blocked after the close")
		}
		if _, ok := c.Get("a"); ok {
			t.Fatal("a closed cache answered a read")
		}
	}
}
