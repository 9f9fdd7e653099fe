package jobs_test

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestListOwned: an owner's listing holds its own jobs, newest first, and
// never another owner's.
func TestListOwned(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	var alice []string
	for i := 0; i < 3; i++ {
		r := e.create("alice", 1)
		if r.Status != csbmsg.StatusOK {
			t.Fatalf("create: %+v", r)
		}
		alice = append(alice, r.Job.ID)
		e.clock.Advance(time.Second)
	}
	bob := e.create("bob", 1)
	list, err := e.m.ListOwned(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("alice lists %d jobs", len(list))
	}
	for i, j := range list {
		if j.Owner != "alice" || j.ID == bob.Job.ID {
			t.Fatalf("alice's listing holds %s of %s", j.ID, j.Owner)
		}
		if want := alice[len(alice)-1-i]; j.ID != want {
			t.Fatalf("position %d: %s, want %s (newest first)", i, j.ID, want)
		}
	}
	if list, _ := e.m.ListOwned(ctx, "carol"); len(list) != 0 {
		t.Fatalf("carol lists %d jobs", len(list))
	}
}
