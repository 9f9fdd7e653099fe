package webhook

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestDeliveryErrorHidesURLToken: a subscriber's URL carries its token in
// the query and its receiver does not answer. The delivery's last error
// (which the admin API lists) and the given-up log line held net/http's
// *url.Error as it was, the URL whole, token included.
func TestDeliveryErrorHidesURLToken(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every attempt is refused
	core, logs := observer.New(zap.WarnLevel)
	st := new(store.Memory)
	d, err := New(Config{Store: st, Clock: clock.NewFake(eventsT0), MaxAttempts: 1, Logger: zap.New(core),
		Client: func(*url.URL) (*http.Client, error) { return http.DefaultClient, nil }})
	if err != nil {
		t.Fatal(err)
	}
	sid, err := d.Register(ctx, Subscriber{URL: "http://" + addr + "/hooks/in?token=s3cr3t-token", Secret: NewSecret(), Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(ctx, Message{Type: "csb.job.updated", Group: "j", Order: 1, Time: eventsT0}, sid); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	dls, err := d.List(ctx)
	if err != nil || len(dls) != 1 || dls[0].State != StateFailed {
		t.Fatalf("deliveries %+v, %v; want one given up", dls, err)
	}
	texts := []string{dls[0].LastError}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if f.Interface != nil {
				if err, ok := f.Interface.(error); ok {
					texts = append(texts, err.Error())
				}
			}
			texts = append(texts, f.String)
		}
	}
	if len(texts) < 2 {
		t.Fatalf("no give-up line logged: %v", logs.All())
	}
	for _, s := range texts {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("the token in %q", s)
		}
	}
	if !strings.Contains(dls[0].LastError, addr+"/hooks/in") {
		t.Errorf("the last error no longer names the receiver: %q", dls[0].LastError)
	}
}
