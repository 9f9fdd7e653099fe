package digest

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

// Validate checks a configuration before its nonces, replay cache and
// users exist; WithDefaults fills what NewServer would.
func TestServerConfigValidateAndDefaults(t *testing.T) {
	good := ServerConfig{Realm: "r", Algorithms: []Algorithm{SHA256}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config without collaborators refused: %v", err)
	}
	for name, mod := range map[string]func(*ServerConfig){
		"no realm":      func(c *ServerConfig) { c.Realm = "" },
		"ctl in realm":  func(c *ServerConfig) { c.Realm = "a\nb" },
		"no algorithms": func(c *ServerConfig) { c.Algorithms = nil },
		"bad algorithm": func(c *ServerConfig) { c.Algorithms = []Algorithm{SHA512_256Sess + 1} },
		"dup algorithm": func(c *ServerConfig) { c.Algorithms = []Algorithm{SHA256, SHA256} },
		"bad qop":       func(c *ServerConfig) { c.QOP = []string{"auth-conf"} },
		"users realm":   func(c *ServerConfig) { c.Users = NewUsers("other") },
	} {
		cfg := good
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	d := good.WithDefaults()
	if d.NonceLifetime != DefaultNonceLifetime || d.MaxAuthIntBody != DefaultMaxAuthIntBody ||
		len(d.QOP) != 1 || d.QOP[0] != QOPAuth {
		t.Fatalf("defaults not applied: %+v", d)
	}
	if _, ok := d.Clock.(clock.Real); !ok {
		t.Fatalf("default clock %T", d.Clock)
	}
	at := time.Unix(1e9, 0)
	if c := (ServerConfig{Clock: clock.Func(func() time.Time { return at })}).WithDefaults().Clock; !c.Now().Equal(at) {
		t.Fatal("a given Clock is replaced by the default")
	}
}
