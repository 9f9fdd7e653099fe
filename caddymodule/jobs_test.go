package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestConsumerCaddyfileErrors checks that every malformed placement, jobs
// and provider weight/price subdirective is refused with a message naming
// the item, and the file and line.
func TestConsumerCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"placement without policy", "csb {\n placement\n}", "wrong argument count"},
		{"unknown policy", "csb {\n placement nosuch\n}", "csb.placement.nosuch"},
		{"placement twice", "csb {\n placement first\n placement random\n}", "csb: placement given twice"},
		{"first with options", "csb {\n placement first {\n x\n }\n}", "placement first takes no options"},
		{"first with argument", "csb {\n placement first extra\n}", "wrong argument count"},
		{"random bad seed", "csb {\n placement random {\n seed minus\n }\n}", `seed "minus"`},
		{"random unknown option", "csb {\n placement random {\n colour red\n }\n}", `unrecognized option "colour"`},
		{"least_loaded bad by", "csb {\n placement least_loaded {\n by vibes\n }\n}", `by "vibes"`},
		{"weighted bad weight", "csb {\n placement weighted {\n weight p1 heavy\n }\n}", `weight "heavy" of provider "p1"`},
		{"weighted negative", "csb {\n placement weighted {\n weight p1 -1\n }\n}", "non-negative integer"},
		{"weighted arity", "csb {\n placement weighted {\n weight p1\n }\n}", "wrong argument count"},
		{"cheapest bad price", "csb {\n placement cheapest {\n price p1 cheap\n }\n}", `price "cheap" of "p1"`},
		{"cheapest unknown", "csb {\n placement cheapest {\n discount 5\n }\n}", `unrecognized option "discount"`},
		{"jobs argument", "csb {\n jobs now {\n }\n}", "wrong argument count"},
		{"jobs bad duration", "csb {\n jobs {\n lease_min soon\n }\n}", `lease_min "soon"`},
		{"jobs zero duration", "csb {\n jobs {\n reap_interval 0s\n }\n}", "positive duration"},
		{"jobs check_interval", "csb {\n jobs {\n check_interval never\n }\n}", `check_interval "never"`},
		{"jobs duration arity", "csb {\n jobs {\n lease_max 1h 2h\n }\n}", "wrong argument count"},
		{"jobs max_attempts", "csb {\n jobs {\n max_attempts 0\n }\n}", `max_attempts "0"`},
		{"jobs anonymous", "csb {\n jobs {\n anonymous maybe\n }\n}", `anonymous "maybe"`},
		{"jobs cache_size", "csb {\n jobs {\n cache_size lots\n }\n}", `cache_size "lots"`},
		{"jobs cache_size zero", "csb {\n jobs {\n cache_size 0\n }\n}", `cache_size "0"`},
		{"jobs cache_size arity", "csb {\n jobs {\n cache_size 4MiB 8MiB\n }\n}", "wrong argument count"},
		{"jobs unknown", "csb {\n jobs {\n lease 5m\n }\n}", `unrecognized option "lease"`},
		{"access twice", "csb {\n jobs {\n access a {\n allow p\n }\n access a {\n deny p\n }\n }\n}", `access for user "a" given twice`},
		{"access unknown", "csb {\n jobs {\n access a {\n permit p\n }\n }\n}", `unrecognized option "permit"`},
		{"access empty allow", "csb {\n jobs {\n access a {\n allow\n }\n }\n}", "wrong argument count"},
		{"provider weight", "csb {\n provider p {\n weight lots\n }\n}", `provider "p": weight "lots"`},
		{"provider price", "csb {\n provider p {\n price -2\n }\n}", `provider "p": price "-2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tc.input)
			err := new(App).UnmarshalCaddyfile(d)
			if err == nil {
				t.Fatalf("accepted %q", tc.input)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("error %q does not name the file and line", err)
			}
		})
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	providers := []*Provider{{ID: "p1"}, {ID: "p2"}}
	for _, tc := range []struct {
		cfg  ConsumerConfig
		want string
	}{
		{ConsumerConfig{}, ""},
		{ConsumerConfig{LeaseMin: caddy.Duration(time.Hour), LeaseMax: caddy.Duration(time.Minute)}, "exceeds lease_max"},
		{ConsumerConfig{LeaseDefault: caddy.Duration(time.Minute)}, "outside"},
		{ConsumerConfig{Anonymous: "sometimes"}, "anonymous"},
		{ConsumerConfig{Access: map[string]*UserAccess{"alice": {Deny: []string{"p3"}}}}, `provider "p3" is not configured`},
		{ConsumerConfig{Access: map[string]*UserAccess{"alice": {Allow: []string{"p1"}, Deny: []string{"p2"}}}}, ""},
	} {
		err := tc.cfg.validate(providers)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	var nilCfg *ConsumerConfig
	if err := nilCfg.validate(providers); err != nil {
		t.Fatal(err)
	}
}

func TestAccessFallsBackToStar(t *testing.T) {
	c := &ConsumerConfig{Access: map[string]*UserAccess{"alice": {Allow: []string{"p1"}}, "*": {Deny: []string{"p2"}}}}
	if a := c.access("alice"); a == nil || len(a.Allow) != 1 || len(a.Deny) != 0 {
		t.Fatalf("alice %+v", a)
	}
	if a := c.access("bob"); a == nil || a.Deny[0] != "p2" {
		t.Fatalf("bob %+v", a)
	}
	if a := (&ConsumerConfig{}).access("bob"); a != nil {
		t.Fatalf("no lists %+v", a)
	}
}

func TestCheckAcceptConsumer(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		ok     bool
	}{
		{nil, true},
		{[]string{"application/csb-consumer+xml"}, true},
		{[]string{"text/html, */*;q=0.1"}, true},
		{[]string{"application/json"}, false},
		{[]string{"application/csb-consumer+xml;q=0, application/json"}, false},
		{[]string{"application/*"}, true},
		{[]string{"application/xml"}, true},
		{[]string{"text/html"}, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/csb/consumer/x", nil)
		for _, v := range tc.accept {
			r.Header.Add("Accept", v)
		}
		if got := checkAccept(r, csbmsg.ConsumerMediaType) == nil; got != tc.ok {
			t.Errorf("%v: got %v", tc.accept, got)
		}
	}
}
