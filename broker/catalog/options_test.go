package catalog

import (
	"strings"
	"testing"
)

func TestOptionsWithDefaultsAndValidate(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.KeyPrefix != DefaultKeyPrefix || o.JournalPrefix != "csb/catalog-journal/" || o.FlushDelay != DefaultFlushDelay ||
		o.CommitWait != DefaultCommitWait || o.CommitSpacing != DefaultCommitSpacing || o.CompactInterval != DefaultCompactInterval ||
		o.SyncInterval != DefaultSyncInterval || o.Retention != DefaultRetention || o.CacheCost != DefaultCacheCost ||
		o.Clock == nil || o.Logger == nil {
		t.Fatalf("defaults not applied: %+v", o)
	}
	if err := (Options{}).Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Options{KeyPrefix: "x/", JournalPrefix: "x/journal/"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "under the record prefix") {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := New(bad); err == nil {
		t.Fatal("New accepted what Validate refuses")
	}
}
