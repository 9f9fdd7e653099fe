package csbcli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestCLIWaitShorterThanTimeout: --wait asks the broker to hold each
// poll for less than --timeout, whatever --timeout is. With --timeout 1s
// or less the hold was rounded up to 1s, as long as the whole request may
// take: a broker with long-poll holds it that long, so every poll ran out
// of time and following the job failed ("did not answer in time").
func TestCLIWaitShorterThanTimeout(t *testing.T) {
	for _, timeout := range []time.Duration{300 * time.Millisecond, time.Second, 1500 * time.Millisecond, 3 * time.Second, 2 * time.Minute} {
		f := &fakeJobs{longPoll: true, pending: 1}
		srv := httptest.NewServer(f)
		base, _ := url.Parse(srv.URL + "/csb/consumer")
		cl := &client{base: base, http: srv.Client(), user: "u"}
		c := &cli{stderr: &bytes.Buffer{}, pollMin: time.Millisecond, pollMax: time.Millisecond}
		c.conn.Timeout = timeout
		first := &answer{Resp: &csbmsg.ServiceResponse{Status: 200, JobInfo: &csbmsg.ResponseJobInfo{JobID: "j1", JobStatus: "pending"}}}
		_, err := c.follow(context.Background(), cl, first)
		srv.Close()
		if err != nil {
			t.Fatalf("--timeout %v: %v", timeout, err)
		}
		for _, q := range f.queries {
			v, _ := url.ParseQuery(q)
			d, err := time.ParseDuration(v.Get("wait"))
			if err != nil || d <= 0 || d > timeout/2 {
				t.Errorf("--timeout %v: the poll asks for wait=%q, want a positive wait of at most half the timeout", timeout, v.Get("wait"))
			}
		}
	}
}
