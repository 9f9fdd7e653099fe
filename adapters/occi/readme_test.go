package occi

import (
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// The tests below keep README.md's mapping tables in step with the tables
// in mapping.go the adapter runs on: every row of the code has its row in
// the README, every README row has one in the code, and what a row says
// (kind or mixin, conversion, read-only, states, actions, statuses) is
// checked against the code's values or behaviour.

const readme = "README.md"

// codeRow is one attribute row of mapping.go, with the element it belongs
// to (the CSB type's name).
type codeRow struct {
	Element, CSB, OCCI, Mixin string
	Conv                      conv
	ReadOnly                  bool
}

func rowsOf[E any](rows []row[E]) []codeRow {
	elem := reflect.TypeFor[E]().Name()
	var out []codeRow
	for _, r := range rows {
		out = append(out, codeRow{elem, r.CSB, r.OCCI, r.Mixin, r.Conv, r.ReadOnly})
	}
	return out
}

func allRows() []codeRow {
	return slices.Concat(rowsOf(computeRows), rowsOf(storageRows), rowsOf(networkRows),
		rowsOf(networkInterfaceRows), rowsOf(storageLinkRows))
}

// TestReadmeAttributes: the "Elements and attributes" table.
func TestReadmeAttributes(t *testing.T) {
	table := adaptertest.ReadmeTable(t, readme, "| CSB element | CSB child | OCCI attribute |")
	byKey := map[string][]string{}
	for _, cells := range table {
		if len(cells) != 5 {
			t.Fatalf("row %q: want 5 cells", cells)
		}
		attr := adaptertest.Backticked(cells[2])
		if len(attr) != 1 {
			t.Fatalf("row %q: want one `attribute`", cells)
		}
		if cells[0] == "(job id)" {
			if attr[0] != AttrCoreTitle {
				t.Errorf("README tags jobs with %s; the code with %s", attr[0], AttrCoreTitle)
			}
			continue
		}
		child, _, _ := strings.Cut(cells[1], " ") // "speed (GHz)"
		key := strings.ToLower(cells[0]) + "/" + child + "/" + attr[0]
		if byKey[key] != nil {
			t.Errorf("README lists %s twice", key)
		}
		byKey[key] = cells
	}
	for _, r := range allRows() {
		key := strings.ToLower(r.Element) + "/" + r.CSB + "/" + r.OCCI
		cells, ok := byKey[key]
		if !ok {
			t.Errorf("README lacks the row %s %s -> %s", r.Element, r.CSB, r.OCCI)
			continue
		}
		delete(byKey, key)
		kindCell, convCell := cells[3], cells[4]
		if r.Mixin != "" {
			_, term, _ := strings.Cut(r.Mixin, "#")
			if !strings.Contains(kindCell, "`"+term+"`") || !strings.Contains(kindCell, "mixin") {
				t.Errorf("%s: README says %q, the code's mixin is %s", key, kindCell, r.Mixin)
			}
		} else {
			term := strings.ToLower(r.Element)
			if _, ok := defaultLocations[SchemeInfra+term]; !ok {
				t.Fatalf("%s: %s is not a kind the adapter knows", key, SchemeInfra+term)
			}
			if first, _, _ := strings.Cut(kindCell, " "); first != term {
				t.Errorf("%s: README says %q, the attribute belongs to the kind %s", key, kindCell, term)
			}
		}
		if ro := strings.Contains(convCell, "read-only"); ro != r.ReadOnly {
			t.Errorf("%s: README says read-only=%v, the code %v", key, ro, r.ReadOnly)
		}
		if !r.ReadOnly {
			checkConversion(t, key, r.Conv, convCell)
		}
	}
	for key := range byKey {
		t.Errorf("README lists %s, which the code does not map", key)
	}
}

// checkConversion checks a README conversion cell against the conversion
// the code runs.
func checkConversion(t *testing.T, key string, c conv, cell string) {
	t.Helper()
	switch c.Name {
	case "string", "integer":
		if !slices.Contains(strings.Fields(cell), c.Name) {
			t.Errorf("%s: README conversion %q, the code's is %s", key, cell, c.Name)
		}
	case "GiB", "GHz":
		if !strings.Contains(cell, c.Name+" float") {
			t.Errorf("%s: README conversion %q, the code's is a %s float", key, cell, c.Name)
		}
	case "architecture":
		// "`a`/`b` → `x`; `c`/`d` → `y`; other values are refused"
		got := map[string]string{}
		for _, seg := range strings.Split(cell, ";") {
			from, to, ok := strings.Cut(seg, "→")
			if !ok {
				continue
			}
			for _, a := range adaptertest.Backticked(from) {
				got[a] = adaptertest.Backticked(to)[0]
			}
		}
		if !maps.Equal(got, archAliases) {
			t.Errorf("%s: README aliases %v, the code's %v", key, got, archAliases)
		}
		if _, err := c.To("arm64"); err == nil || !strings.Contains(cell, "refused") {
			t.Errorf("%s: the code refuses other architectures (%v); README: %q", key, err, cell)
		}
	case "vlan":
		m := regexp.MustCompile(`integer (\d+)\.\.(\d+)`).FindStringSubmatch(cell)
		if m == nil {
			t.Errorf("%s: README conversion %q gives no range", key, cell)
			return
		}
		lo, _ := strconv.Atoi(m[1])
		hi, _ := strconv.Atoi(m[2])
		_, errLo := c.To(strconv.Itoa(lo))
		_, errHi := c.To(strconv.Itoa(hi))
		_, errOver := c.To(strconv.Itoa(hi + 1))
		if errLo != nil || errHi != nil || errOver == nil {
			t.Errorf("%s: README range %d..%d, the code: %v %v %v", key, lo, hi, errLo, errHi, errOver)
		}
	case "allocation":
		vals := adaptertest.Backticked(cell)
		for _, v := range vals {
			if _, err := c.To(v); err != nil {
				t.Errorf("%s: README value %q refused by the code: %v", key, v, err)
			}
		}
		for _, v := range []csbmsg.Allocation{csbmsg.AllocationDynamic, csbmsg.AllocationStatic} {
			if !slices.Contains(vals, string(v)) {
				t.Errorf("%s: README lacks the value %s", key, v)
			}
		}
	default:
		t.Errorf("%s: conversion %q has no README check; add one here", key, c.Name)
	}
}

// TestReadmeStates: the "States" table against computeStates,
// storageStates and linkStates.
func TestReadmeStates(t *testing.T) {
	maps := map[string]stateMap{"compute": computeStates, "storage": storageStates, "network, links": linkStates}
	seen := map[string]map[string]bool{}
	for _, cells := range adaptertest.ReadmeTable(t, readme, "| OCCI state |") {
		entity, rest, _ := strings.Cut(cells[0], " `")
		m, ok := maps[entity]
		if !ok {
			t.Errorf("row %q: unknown entity %q", cells, entity)
			continue
		}
		if seen[entity] == nil {
			seen[entity] = map[string]bool{}
		}
		for _, st := range adaptertest.Backticked("`" + rest) {
			got, ok := m[st]
			if !ok {
				t.Errorf("README lists %s state %s, which the code does not know", entity, st)
				continue
			}
			seen[entity][st] = true
			want := cells[1]
			switch want {
			case "same":
				want = st
			case "—":
				want = ""
			}
			if got.CSB != want || string(got.State) != cells[2] {
				t.Errorf("%s %s: README says %s/%s, the code %q/%s", entity, st, cells[1], cells[2], got.CSB, got.State)
			}
		}
		if strings.Contains(rest, "unknown") {
			if got := stateOf(m, "no-such-state"); string(got) != cells[2] {
				t.Errorf("%s: README says unknown states are %s, the code %s", entity, cells[2], got)
			}
		}
	}
	for entity, m := range maps {
		for st := range m {
			if !seen[entity][st] {
				t.Errorf("README lacks %s state %s", entity, st)
			}
		}
	}
}

// TestReadmeActions: the "Actions" table and the list of the states
// actions lead to, against computeActions, networkActions and
// storageActions.
func TestReadmeActions(t *testing.T) {
	all := map[string]map[string]action{"compute": {}, "network": {}, "storage": {}}
	for a, v := range computeActions {
		all["compute"][string(a)] = v
	}
	for a, v := range networkActions {
		all["network"][string(a)] = v
	}
	for a, v := range storageActions {
		all["storage"][string(a)] = v
	}
	seen := map[string]bool{}
	for _, cells := range adaptertest.ReadmeTable(t, readme, "| CSB action |") {
		entity, terms, _ := strings.Cut(cells[0], " ")
		m, ok := all[entity]
		if !ok {
			t.Errorf("row %q: unknown entity %q", cells, entity)
			continue
		}
		id := adaptertest.Backticked(cells[1])
		if len(id) == 0 {
			t.Errorf("row %q names no OCCI action", cells)
			continue
		}
		for _, term := range strings.Split(terms, " / ") {
			a, ok := m[term]
			if !ok {
				t.Errorf("README lists %s action %s, which the code does not map", entity, term)
				continue
			}
			seen[entity+" "+term] = true
			switch {
			case strings.HasSuffix(id[0], "#"): // scheme + term
				if a.OCCI != id[0]+term {
					t.Errorf("%s %s: README %s%s, the code %s", entity, term, id[0], term, a.OCCI)
				}
			case strings.HasPrefix(id[0], "..."):
				if !strings.HasSuffix(a.OCCI, strings.TrimPrefix(id[0], "...")) {
					t.Errorf("%s %s: README %s, the code %s", entity, term, id[0], a.OCCI)
				}
			default:
				if a.OCCI != id[0] {
					t.Errorf("%s %s: README %s, the code %s", entity, term, id[0], a.OCCI)
				}
			}
		}
	}
	want := map[string]string{}
	for entity, m := range all {
		for term, a := range m {
			if !seen[entity+" "+term] {
				t.Errorf("README lacks %s action %s", entity, term)
			}
			if a.Target != "" {
				want[term] = a.Target
			}
		}
	}
	// "After an action, ... (start/restart → active, stop → inactive, ...)"
	p := adaptertest.ReadmeParagraph(t, readme, "After an action")
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-z/]+)\s+→\s+([a-z]+)`).FindAllStringSubmatch(p, -1) {
		for _, term := range strings.Split(m[1], "/") {
			got[term] = m[2]
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("README says actions lead to %v; the code %v", got, want)
	}
}

// TestReadmeHTTPStatuses: the "HTTP statuses" table against statusKind
// for every 4xx and 5xx status, and the retried statuses against
// retryable.
func TestReadmeHTTPStatuses(t *testing.T) {
	listed := map[int]string{}
	var other4xx, any5xx string
	num := regexp.MustCompile(`\b[1-5]\d\d\b`)
	for _, cells := range adaptertest.ReadmeTable(t, readme, "| provider answer |") {
		kind := adaptertest.Backticked(cells[1])
		if len(kind) == 0 {
			t.Errorf("row %q names no failure kind", cells)
			continue
		}
		switch {
		case strings.HasPrefix(cells[0], "other 4xx"):
			other4xx = kind[0]
			// the statuses it lists in brackets are examples; checked below
		case cells[0] == "5xx":
			any5xx = kind[0]
		default:
			for _, n := range num.FindAllString(cells[0], -1) {
				code, _ := strconv.Atoi(n)
				listed[code] = kind[0]
			}
		}
	}
	if other4xx == "" || any5xx == "" {
		t.Fatalf("README lacks the other 4xx or the 5xx row")
	}
	for code := 400; code < 600; code++ {
		want, ok := listed[code]
		switch {
		case ok:
		case code < 500:
			want = other4xx
		default:
			want = any5xx
		}
		if got := statusKind(code); string(got) != want {
			t.Errorf("status %d: README says %s, the code %s", code, want, got)
		}
	}
	for code := range listed {
		if code < 400 {
			t.Errorf("README classifies status %d, which is not an error", code)
		}
	}
	// "GET, PUT and DELETE are retried after transport errors and 502/503/504"
	p := adaptertest.ReadmeParagraph(t, readme, "GET, PUT and DELETE are retried")
	m := regexp.MustCompile(`\d{3}(?:/\d{3})*`).FindString(p)
	var got, want []int
	for _, n := range strings.Split(m, "/") {
		code, _ := strconv.Atoi(n)
		got = append(got, code)
	}
	for code := 100; code < 600; code++ {
		if retryable(code) {
			want = append(want, code)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("README retries after %v, the code after %v", got, want)
	}
	// and the default number of retries
	d := regexp.MustCompile("`retries`, default (\\d+)").FindStringSubmatch(p)
	a, err := New(Config{Endpoint: "http://occi.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || d[1] != strconv.Itoa(a.cfg.MaxRetries) {
		t.Errorf("README says %q; the default MaxRetries is %d", d, a.cfg.MaxRetries)
	}
}
