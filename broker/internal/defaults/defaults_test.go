package defaults

import (
	"testing"
	"time"
)

func TestZeroAndPositive(t *testing.T) {
	s, n := "", "set"
	Zero(&s, "d")
	Zero(&n, "d")
	if s != "d" || n != "set" {
		t.Fatalf("Zero: %q %q", s, n)
	}
	neg, zero, pos := -time.Second, time.Duration(0), time.Minute
	Positive(&neg, time.Hour)
	Positive(&zero, time.Hour)
	Positive(&pos, time.Hour)
	if neg != time.Hour || zero != time.Hour || pos != time.Minute {
		t.Fatalf("Positive: %v %v %v", neg, zero, pos)
	}
	i := -1
	Zero(&i, 5) // -1 is set: Zero leaves it
	if i != -1 {
		t.Fatalf("Zero replaced -1: %d", i)
	}
}
