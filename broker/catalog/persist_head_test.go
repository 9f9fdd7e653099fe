package catalog

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// head is r without its services: encoding/json then writes the head of
// a journal record (services is omitempty).
func head(r *record) *record {
	h := *r
	h.Services = nil
	return &h
}

// TestAppendRecordHead: the hand-written head of a journal record is
// byte for byte what encoding/json writes for a record without services, with every
// optional field absent and present, strings that need escaping, times
// in other zones, and the leases' keys out of order; and it refuses the
// times encoding/json refuses.
func TestAppendRecordHead(t *testing.T) {
	yes, no := true, false
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.UTC)
	recs := map[string]*record{
		"minimal": {Provider: ProviderEntry{ID: "p", Status: "active", Source: SourceStatic}},
		"full": {
			Provider: ProviderEntry{ID: "p1", Status: "active", URI: "https://p1.example/api?x=1", EncryptionSupport: &yes,
				Label: "Provider one", Source: SourcePublished, SubscriptionID: "QQ6J3c", Expires: at.Add(time.Hour), UpdatedAt: at},
			Published: true, SeqNumber: 987654321, UpdatedAt: at, DiscoveredAt: at.In(paris),
			Leases: map[string]time.Time{"z": at, "a": at.Add(time.Minute), "m": {}},
		},
		"escapes": {
			Provider: ProviderEntry{ID: "p\"<&>\\", Status: "active", EncryptionSupport: &no, Label: "é\u2028\x01\ttab",
				Source: SourceDiscovered, URI: "http://x/\xff"},
			UpdatedAt: at.In(paris), Leases: map[string]time.Time{"<id>": at},
		},
	}
	// One character needing care per string, so that each is checked
	// on its own.
	for _, c := range []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x7f", "é", "\u2028", "\u2029", "\xff"} {
		recs["label "+c] = &record{Provider: ProviderEntry{ID: "p", Label: "a" + c + "b", Source: SourcePublished}}
	}
	for name, r := range recs {
		want, err := json.Marshal(head(r))
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendRecordHead([]byte("prefix"), r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(append(got[len("prefix"):], '}'), want) {
			t.Errorf("%s:\n got %s}\nwant %s", name, got[len("prefix"):], want)
		}
	}
	bad := &record{Provider: ProviderEntry{ID: "p", UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := json.Marshal(head(bad)); err == nil {
		t.Fatal("encoding/json took a year past 9999")
	}
	if _, err := appendRecordHead(nil, bad); err == nil {
		t.Error("appendRecordHead took a year past 9999")
	}
}

// BenchmarkRecordHead: a journal record's head (the provider entry, its
// sequence, times and leases) written out, against encoding/json's
// reflection over a record without services, the way it was encoded
// before.
func BenchmarkRecordHead(b *testing.B) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.UTC)
	r := &record{
		Provider: ProviderEntry{ID: "p01", Status: "active", URI: "https://p01.example/csb", Source: SourcePublished,
			SubscriptionID: "feed-01", UpdatedAt: at},
		Published: true, SeqNumber: 12345, UpdatedAt: at,
		Leases: map[string]time.Time{"feed-01": {}},
	}
	b.Run("Baseline/encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(head(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendRecordHead", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			var err error
			if buf, err = appendRecordHead(buf[:0], r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
