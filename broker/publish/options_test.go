package publish

import (
	"strings"
	"testing"
	"time"
)

func TestManagerOptionsWithDefaultsAndValidate(t *testing.T) {
	o := ManagerOptions{}.WithDefaults()
	if o.KeyPrefix != DefaultSubscriptionPrefix || o.RenewAt != DefaultRenewAt || o.RetryMin != DefaultRetryMin ||
		o.RetryMax != DefaultRetryMax || o.RequestTimeout != DefaultRequestTimeout || o.SyncInterval != DefaultSubscriptionSync ||
		o.Clock == nil || o.Logger == nil || o.Rand == nil {
		t.Fatalf("defaults not applied: %+v", o)
	}
	if got := (ManagerOptions{RetryMin: 10 * time.Minute}).WithDefaults(); got.RetryMax != 10*time.Minute {
		t.Fatalf("retry max %v is below retry min", got.RetryMax)
	}
	for _, tc := range []struct {
		o    ManagerOptions
		want string
	}{
		{ManagerOptions{}, ""},
		{ManagerOptions{RenewAt: 0.5, RetryMin: time.Second, RetryMax: time.Minute}, ""},
		{ManagerOptions{RenewAt: 1}, "renew_at 1"},
		{ManagerOptions{RenewAt: -0.1}, "renew_at"},
		{ManagerOptions{RetryMin: time.Minute, RetryMax: time.Second}, "shorter than the minimum"},
		{ManagerOptions{RequestTimeout: -time.Second}, "must be positive"},
	} {
		err := tc.o.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.o, err, tc.want)
		}
	}
	if (IngestOptions{}).WithDefaults().CommitTimeout != DefaultCommitTimeout {
		t.Fatal("ingest commit timeout default not applied")
	}
}
