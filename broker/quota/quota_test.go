package quota

import (
	"strings"
	"testing"
	"time"
)

func TestQuotaScopesAndCheck(t *testing.T) {
	p := &Policy{
		Users:  map[string]Limits{"alice": {Cores: 16}, "*": {Jobs: 3}, "root": {}},
		Groups: []Group{{Name: "team", Members: []string{"alice", "bob"}, Limits: Limits{MemoryGB: 64}}},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	names := func(ss []Scope) (out []string) {
		for _, s := range ss {
			out = append(out, s.Key)
		}
		return out
	}
	if got := strings.Join(names(p.Scopes("alice")), ","); got != "group:team,user:alice" {
		t.Fatalf("alice: %s", got)
	}
	if got := strings.Join(names(p.Scopes("bob")), ","); got != "group:team,user:bob" {
		t.Fatalf("bob (the default and the group): %s", got)
	}
	if got := p.Scopes("root"); len(got) != 0 {
		t.Fatalf("root has an empty entry of its own, so no limit: %v", got)
	}
	s := p.Scopes("alice")[1]
	if r := Check(s, Standing{Held: Usage{Cores: 8}}, Ask{Usage: Usage{Jobs: 1, Cores: 8}}); r != nil {
		t.Fatalf("8+8 of 16: %v", r)
	}
	r := Check(s, Standing{Held: Usage{Cores: 9}}, Ask{Usage: Usage{Jobs: 1, Cores: 8}})
	if r == nil || r.Limit != "cores" || r.Max != 16 || r.Have != 9 || r.Asked != 8 {
		t.Fatalf("9+8 of 16: %+v", r)
	}
	sp := Scope{Name: "x", Limits: Limits{Spend: []Spend{{Amount: 10, Period: Day}}}}
	if r := Check(sp, Standing{Spent: map[Period]float64{Day: 3}, Committed: 2}, Ask{Cost: 5}); r != nil {
		t.Fatalf("3+2+5 of 10: %v", r)
	}
	if r := Check(sp, Standing{Spent: map[Period]float64{Day: 3}, Committed: 2}, Ask{Cost: 5.01}); r == nil || r.Limit != "spend per day" {
		t.Fatalf("3+2+5.01 of 10: %v", r)
	}
}

func TestQuotaValidate(t *testing.T) {
	for _, p := range []*Policy{
		{Users: map[string]Limits{"a": {Spend: []Spend{{Amount: 0, Period: Day}}}}},
		{Users: map[string]Limits{"a": {Spend: []Spend{{Amount: 1, Period: "week"}}}}},
		{Users: map[string]Limits{"a": {Spend: []Spend{{Amount: 1, Period: Day}, {Amount: 2, Period: Day}}}}},
		{Groups: []Group{{Name: "g"}}},
		{Groups: []Group{{Name: "g", Members: []string{"a"}}, {Name: "g", Members: []string{"b"}}}},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: accepted", p)
		}
	}
}

func TestQuotaPeriodStart(t *testing.T) {
	at := time.Date(2026, 12, 6, 22, 47, 13, 0, time.UTC)
	for p, want := range map[Period]time.Time{
		Hour:  time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC),
		Day:   time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC),
		Month: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got := p.Start(at); !got.Equal(want) {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
}

// TestQuotaCheckDoesNotWrap: an ask so large that held+asked overflows
// uint64 is over the limit, and so is a held sum that would wrap; with
// wrapping arithmetic, 4 held cores and an ask of 2^64-2 summed to 2 and
// passed a 10-core limit.
func TestQuotaCheckDoesNotWrap(t *testing.T) {
	s := Scope{Name: "user alice", Key: "u:alice", Limits: Limits{Cores: 10}}
	huge := ^uint64(0) - 1
	if r := Check(s, Standing{Held: Usage{Cores: 4}}, Ask{Usage: Usage{Cores: huge}}); r == nil || r.Limit != "cores" {
		t.Fatalf("an ask of %d cores with 4 held passed a 10-core limit: %+v", huge, r)
	}
	held := Usage{Cores: 4}.Add(Usage{Cores: huge})
	if held.Cores != ^uint64(0) {
		t.Fatalf("held cores wrapped to %d", held.Cores)
	}
	if r := Check(s, Standing{Held: held}, Ask{Usage: Usage{Cores: 1}}); r == nil {
		t.Fatal("a saturated held count passed the limit")
	}
	if r := Check(s, Standing{Held: Usage{Cores: 4}}, Ask{Usage: Usage{Cores: 6}}); r != nil {
		t.Fatalf("4 held and 6 asked of 10 refused: %+v", r)
	}
}
