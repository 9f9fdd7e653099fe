package contract

import (
	"errors"
	"testing"
)

func TestCloneOwnsNative(t *testing.T) {
	r := &Resource{URI: "u", State: StateReady, Native: map[string]string{"a": "1"}}
	c := r.Clone()
	c.Native["a"], c.State = "2", StateGone
	if r.Native["a"] != "1" || r.State != StateReady {
		t.Fatalf("clone shares state with the original: %+v", r)
	}
	if c := (&Resource{}).Clone(); c.Native == nil {
		t.Fatal("clone of a resource without Native has a nil map")
	}
}

func TestWorse(t *testing.T) {
	order := []State{StateReady, StatePending, StateFailed, StateGone}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := Worse(a, b); got != want {
				t.Errorf("Worse(%s, %s) = %s, want %s", a, b, got, want)
			}
		}
	}
}

func TestErrorf(t *testing.T) {
	cause := errors.New("cause")
	err := Errorf(KindUnsupported, "provision", "no %s: %w", "thing", cause)
	if KindOf(err) != KindUnsupported || !errors.Is(err, cause) || err.Error() != "provision: unsupported: no thing: cause" {
		t.Fatalf("%v", err)
	}
}
