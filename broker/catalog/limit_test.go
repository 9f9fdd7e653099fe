package catalog

import (
	"errors"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestCheckNotificationCountsPublishedServices: the bound is on a
// provider's published services: static entries a notification's ids
// shadow do not count, updates of published ids do not add, and the
// default applies when the option is unset.
func TestCheckNotificationCountsPublishedServices(t *testing.T) {
	if got := (Options{}).WithDefaults().MaxPublishedServices; got != DefaultMaxPublishedServices {
		t.Fatalf("default %d, want %d", got, DefaultMaxPublishedServices)
	}
	c := newCat(t, Options{MaxPublishedServices: 2})
	if err := c.Configure([]ProviderConfig{{ID: "a", Static: &StaticProvider{Services: []csbmsg.Service{iaas("st", 1)}}}}); err != nil {
		t.Fatal(err)
	}
	c.ApplyNotification(notif("sub", 1, "a", iaas("p1", 1), iaas("p2", 1)), true)
	for _, tc := range []struct {
		name string
		ids  []string
		full bool
		ok   bool
	}{
		{"update of published ids", []string{"p1"}, false, true},
		{"shadowed by a static entry", []string{"st"}, false, true},
		{"one more", []string{"p3"}, false, false},
		{"full, two listed", []string{"p3", "p4"}, true, true},
		{"full, three listed", []string{"p3", "p4", "p5"}, true, false},
	} {
		n := notif("sub", 2, "a")
		for _, id := range tc.ids {
			n.Services = append(n.Services, iaas(id, 2))
		}
		err := c.CheckNotification(n, tc.full)
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrTooManyServices) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
