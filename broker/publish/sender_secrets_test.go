package publish

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestHTTPSenderErrorHidesURLSecrets: a publisher's subscribe URL with a
// token in its query, or user info, whose host does not answer. Send
// returned net/http's *url.Error as it was, which prints the URL whole
// (only a password masked), and the worker makes it the subscription's
// last error, which the console and the admin API show.
func TestHTTPSenderErrorHidesURLSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the command is refused
	req := &csbmsg.PublishRequest{Subscription: csbmsg.Subscription{ID: "s1", SeqNumber: 1, Action: csbmsg.ActionCreate}}
	for _, u := range []string{
		"http://" + addr + "/csb/subscribe?token=s3cr3t-token",
		"http://csb-user:s3cr3t-pass@" + addr + "/csb/subscribe",
	} {
		cfg := SubscriptionConfig{ProviderID: "p", URL: u, Client: &http.Client{Transport: &http.Transport{}}}
		_, err := HTTPSender{}.Send(context.Background(), cfg, req)
		if err == nil {
			t.Fatal("the command was sent")
		}
		if s := err.Error(); strings.Contains(s, "s3cr3t") || strings.Contains(s, "csb-user") || !strings.Contains(s, addr+"/csb/subscribe") {
			t.Errorf("Send: %s", s)
		}
	}
}
