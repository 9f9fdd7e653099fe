package jobs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// The exported defaults are what a zero Config becomes, so the glue can
// leave fields zero instead of restating them.
func TestConfigWithDefaults(t *testing.T) {
	c := jobs.Config{}.WithDefaults()
	if c.LeaseDefault != jobs.DefaultLeaseDefault || c.LeaseMin != jobs.DefaultLeaseMin || c.LeaseMax != jobs.DefaultLeaseMax ||
		c.AttemptTimeout != jobs.DefaultAttemptTimeout || c.CallTimeout != jobs.DefaultCallTimeout ||
		c.RespondWithin != jobs.DefaultRespondWithin || c.PollInterval != jobs.DefaultPollInterval ||
		c.ReapInterval != jobs.DefaultReapInterval || c.Retain != jobs.DefaultRetain || c.RetainFailed != jobs.DefaultRetainFailed ||
		c.LockWait != jobs.DefaultLockWait || c.CacheTTL != jobs.DefaultCacheTTL || c.MaxAttempts != jobs.DefaultMaxAttempts ||
		c.MaxJobsPerOwner != jobs.DefaultMaxJobsPerOwner || c.CacheSize != jobs.DefaultCacheSize || c.Clock == nil || c.Logger == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if jobs.DefaultLeaseMin != 5*time.Minute || jobs.DefaultLeaseMax != 720*time.Hour || jobs.DefaultLeaseDefault != time.Hour {
		t.Fatal("the documented lease defaults changed")
	}
	if got := (jobs.Config{LeaseMax: 2 * time.Hour}).WithDefaults(); got.LeaseMax != 2*time.Hour || got.LeaseMin != jobs.DefaultLeaseMin {
		t.Fatalf("a set field was overwritten: %+v", got)
	}
}

// Validate checks the tunables alone (no Store, Placer or Adapter), with
// the defaults standing in for unset bounds, and names fields as the
// Caddy configuration does.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  jobs.Config
		want string // "" means valid
	}{
		{jobs.Config{}, ""},
		{jobs.Config{MaxJobsPerOwner: -1}, ""},
		{jobs.Config{LeaseMin: 2 * time.Hour}, ""}, // the default lease is clamped, not refused
		{jobs.Config{LeaseMin: time.Hour, LeaseMax: time.Minute}, "lease_min 1h0m0s exceeds lease_max 1m0s"},
		{jobs.Config{LeaseMin: 800 * time.Hour}, "exceeds lease_max 720h0m0s"},
		{jobs.Config{LeaseDefault: time.Minute}, "lease_default 1m0s is outside [5m0s, 720h0m0s]"},
		{jobs.Config{LeaseDefault: 721 * time.Hour}, "lease_default"},
		{jobs.Config{CacheSize: -1}, "cache_size -1"},
		{jobs.Config{MaxJobsPerOwner: -2}, "max_jobs_per_owner -2"},
		// Bare numbers in Caddy's JSON are nanoseconds: meant as seconds,
		// they granted leases of 0 s, every job reclaimed at once.
		{jobs.Config{LeaseMin: 60, LeaseMax: 3600}, "lease_min 60ns: shorter than a second"},
		{jobs.Config{LeaseMin: time.Second, LeaseMax: 3600}, "lease_max 3.6µs: shorter than a second"},
		{jobs.Config{LeaseMin: 60, LeaseDefault: 3600}, "lease_min 60ns"},
		{jobs.Config{LeaseMin: time.Second, LeaseMax: time.Second}, ""},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
