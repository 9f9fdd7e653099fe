package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestUnhonouredFieldsOption: "jobs { unhonoured_fields refuse|ignore }"
// reaches the job manager's IgnoreUnhonoured; anything else is refused
// with the file and line, and by validate.
func TestUnhonouredFieldsOption(t *testing.T) {
	for mode, ignore := range map[string]bool{"refuse": false, "ignore": true} {
		a := new(App)
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n jobs {\n unhonoured_fields " + mode + "\n }\n}")); err != nil {
			t.Fatal(err)
		}
		if a.Consumer.UnhonouredFields != mode || a.Consumer.tunables().IgnoreUnhonoured != ignore || a.Consumer.validate(nil) != nil {
			t.Fatalf("%s: %+v", mode, a.Consumer)
		}
	}
	err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n jobs {\n unhonoured_fields drop\n }\n}"))
	if err == nil || !strings.Contains(err.Error(), `unhonoured_fields "drop"`) || !strings.Contains(err.Error(), "Testfile:") {
		t.Fatalf("bad mode: %v", err)
	}
	if err := (&ConsumerConfig{UnhonouredFields: "drop"}).validate(nil); err == nil || !strings.Contains(err.Error(), "unhonoured_fields") {
		t.Fatalf("validate: %v", err)
	}
}
