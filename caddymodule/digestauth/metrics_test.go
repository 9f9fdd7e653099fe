package digestauth

import (
	"errors"
	"fmt"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

func TestFailureReason(t *testing.T) {
	for _, r := range failureReasons {
		if got := failureReason(fmt.Errorf("wrapped: %w", r.err)); got != r.label {
			t.Errorf("%v: %s, want %s", r.err, got, r.label)
		}
	}
	if failureReason(digest.ErrUnknownUser) != failureReason(digest.ErrResponse) {
		t.Error("an unknown user and a wrong response must share a label")
	}
	if got := failureReason(errors.New("something else")); got != "other" {
		t.Errorf("other: %s", got)
	}
}
