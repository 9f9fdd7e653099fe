package lazy

import (
	"errors"
	"sync"
	"testing"
)

type client struct{ n int }

func TestGet(t *testing.T) {
	var mu sync.Mutex
	var slot *client
	builds := 0
	base := func() (int, error) { return 7, nil }
	build := func(b int) (*client, error) { builds++; return &client{b}, nil }

	// Concurrent first uses build one client and share it.
	var wg sync.WaitGroup
	got := make([]*client, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Get(&mu, &slot, base, build)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		}()
	}
	wg.Wait()
	for _, c := range got {
		if c != got[0] || c.n != 7 {
			t.Fatalf("clients %v, want one shared client built from 7", got)
		}
	}
	if builds != 1 {
		t.Errorf("%d builds, want 1", builds)
	}

	// A dropped client is built again.
	slot = nil
	if c, _ := Get(&mu, &slot, base, build); c == got[0] || builds != 2 {
		t.Errorf("after a drop: same client %v, %d builds", c == got[0], builds)
	}

	// Errors of base and build are returned; a failed build keeps nothing.
	slot = nil
	boom := errors.New("boom")
	if _, err := Get(&mu, &slot, func() (int, error) { return 0, boom }, build); !errors.Is(err, boom) {
		t.Errorf("base error: %v", err)
	}
	if _, err := Get(&mu, &slot, base, func(int) (*client, error) { return nil, boom }); !errors.Is(err, boom) || slot != nil {
		t.Errorf("build error: %v, slot %v", err, slot)
	}
}
