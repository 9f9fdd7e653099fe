package ospeer

import (
	"errors"
	"testing"
)

// TestPortTaken: the start failures that Start makes again on new ports,
// as the servers word them, and one it does not.
func TestPortTaken(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want bool
	}{
		{"rabbit exited while waiting for keystone: exit status 1\n--- rabbit.out\nBOOT FAILED\nERROR: could not bind to distribution port 29101 on host localhost.", true},
		{`reason: {dist_port_already_used,29101,not_erlang,"localhost"}`, true},
		{"keystone: listen tcp 127.0.0.1:31000: bind: address already in use", true},
		{"OSError: [Errno 98] Address already in use", true},
		{"keystone: not ready: 503 Service Unavailable", false},
	} {
		if got := portTaken(errors.New(c.msg)); got != c.want {
			t.Errorf("portTaken(%q) = %v, want %v", c.msg, got, c.want)
		}
	}
}
