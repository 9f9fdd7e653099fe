package clock_test

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

func TestFuncAndOrReal(t *testing.T) {
	at := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	var c clock.Clock = clock.Func(func() time.Time { return at })
	if !c.Now().Equal(at) {
		t.Fatalf("Func.Now = %v", c.Now())
	}
	tm := c.NewTimer(0) // a real timer: a zero duration fires at once
	<-tm.C()
	f := clock.NewFake(at)
	if clock.OrReal(f) != clock.Clock(f) {
		t.Fatal("OrReal replaced a clock it was given")
	}
	if _, ok := clock.OrReal(nil).(clock.Real); !ok {
		t.Fatal("OrReal(nil) is not the wall clock")
	}
}
