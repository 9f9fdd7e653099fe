package csbcimi

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Sizes in KiB round up to GB without overflowing: a memory or capacity
// near 2^64 KiB was rounded to 0 GB, so placement matched it as a
// request for no memory or no storage (and only the adapter, if it
// checked, refused it) instead of refusing it as larger than any offer.
func TestCIMISizeRoundingOverflow(t *testing.T) {
	for kib, gb := range map[uint64]uint64{0: 0, 1: 1, kibPerGB: 1, kibPerGB + 1: 2, math.MaxUint64: math.MaxUint64/kibPerGB + 1} {
		if got := kibToGB(kib); got != gb {
			t.Errorf("kibToGB(%d) = %d, want %d", kib, got, gb)
		}
	}
	b := startEngineBroker(t)
	huge := strconv.FormatUint(math.MaxUint64, 10)
	for _, c := range []struct{ path, body, want string }{
		{"/cimi/machines", `{"machineTemplate":{"machineConfig":{"cpu":1,"memory":` + huge + `}}}`, "memory"},
		{"/cimi/volumes", `{"volumeTemplate":{"volumeConfig":{"capacity":` + huge + `}}}`, "storage size"},
	} {
		a := b.do("alice", "POST", c.path, c.body)
		msg, _ := a.json["message"].(string)
		if a.status != http.StatusConflict || !strings.Contains(msg, "no service with "+c.want) {
			t.Errorf("%s %s: %s", c.path, c.body, a)
		}
	}
}
