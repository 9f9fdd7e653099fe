package nativeerr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestKind(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		status int
		err    error
		want   contract.ErrorKind
	}{
		{404, boom, contract.KindNotFound},
		{413, boom, contract.KindCapacity},
		{507, boom, contract.KindCapacity},
		{400, boom, contract.KindClient},
		{403, boom, contract.KindClient},
		{500, boom, contract.KindServer},
		{504, boom, contract.KindTimeout},
		{0, fmt.Errorf("get: %w", context.DeadlineExceeded), contract.KindTimeout},
		{0, &net.OpError{Op: "dial", Err: timeoutErr{}}, contract.KindTimeout},
		{0, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, contract.KindTransport},
	} {
		if got := Kind(tc.status, tc.err); got != tc.want {
			t.Errorf("Kind(%d, %v) = %s, want %s", tc.status, tc.err, got, tc.want)
		}
	}
	e := New("op", 500, boom)
	if contract.KindOf(e) != contract.KindServer {
		t.Fatalf("New: %v", e)
	}
	if New("other", 0, e) != e {
		t.Fatal("an contract.Error must pass through")
	}
}

func TestRetryable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		method string
		status int
		err    error
		want   bool
	}{
		{"GET", 503, nil, true},
		{"PUT", 0, refused, true},
		{"DELETE", 502, nil, true},
		{"POST", 503, nil, false},
		{"GET", 500, nil, false},
		{"GET", 404, nil, false},
		{"GET", 0, context.DeadlineExceeded, false},
		{"GET", 0, context.Canceled, false},
	} {
		if got := Retryable(tc.method, tc.status, tc.err); got != tc.want {
			t.Errorf("Retryable(%s, %d, %v) = %v", tc.method, tc.status, tc.err, got)
		}
	}
}
