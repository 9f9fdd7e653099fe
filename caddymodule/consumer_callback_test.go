package caddymodule

import (
	"context"
	"testing"
)

// TestConsumerCallbackOnAnOperatorWebhookHost: a consumer's Csb-Callback
// is judged by the consumers' rules (events allowed_hosts, public
// addresses unless allow_private) even when it names the host of an
// operator webhook. That host is trusted for the operator's own
// deliveries whatever it resolves to; a consumer naming it got the same
// trust, and so had the broker POST to any path of an internal host
// (http://10.0.0.5:8080/admin/...) with allow_private off.
func TestConsumerCallbackOnAnOperatorWebhookHost(t *testing.T) {
	v := &eventsView{cfg: &EventsConfig{Webhooks: []*OperatorWebhook{{URL: "http://10.0.0.5:8080/csb-events"}, {URL: "https://8.8.8.8/hooks"}}}}
	for raw, ok := range map[string]bool{
		"http://10.0.0.5:8080/admin/drop": false, // the operator's private host
		"http://10.0.0.5:8080/csb-events": false,
		"https://8.8.8.8/consumer-hook":   true, // a public host: any consumer may use it
		"http://10.0.0.6:8080/csb-events": false,
		"http://169.254.169.254/latest/x": false,
	} {
		_, err := v.checkConsumerCallback(context.Background(), raw)
		if (err == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", raw, err, ok)
		}
	}
	// With allow_private, the consumers' rules let it through.
	v.cfg.AllowPrivate = true
	if _, err := v.checkConsumerCallback(context.Background(), "http://10.0.0.5:8080/hook"); err != nil {
		t.Errorf("allow_private: %v", err)
	}
	// An allowed_hosts list that does not name the operator's host keeps
	// consumers off it.
	v.cfg.AllowPrivate, v.cfg.AllowedHosts = false, []string{"*.example.org"}
	if _, err := v.checkConsumerCallback(context.Background(), "https://8.8.8.8/consumer-hook"); err == nil {
		t.Error("allowed_hosts *.example.org let a callback to the operator's host through")
	}
}
