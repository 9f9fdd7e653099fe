package caddymodule

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsMatchOperationsDoc: docs/operations.md's metrics table is
// what an operator builds dashboards and alerts from. Every metric the
// broker exports is in it with its type and labels, and every metric in
// it exists (caddy_csb_digest_*, registered by package digestauth, are
// looked up in its source).
func TestMetricsMatchOperationsDoc(t *testing.T) {
	data, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	type metric struct {
		typ    string
		labels []string
	}
	documented := map[string]metric{}
	row := regexp.MustCompile("^\\| `(caddy_csb_[a-z_]+)` \\| (counter|gauge|histogram) \\|([^|]*)\\|")
	for _, line := range strings.Split(string(data), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
				labels = append(labels, l)
			}
		}
		slices.Sort(labels)
		documented[m[1]] = metric{m[2], labels}
	}
	if len(documented) == 0 {
		t.Fatal("no metrics table in docs/operations.md")
	}

	// What the broker exports: a fresh set of the process-wide
	// collectors, and the state gauges.
	exported := map[string]metric{}
	vars := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	describe := func(c prometheus.Collector, typ string) {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := vars.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read %s", d)
			}
			var labels []string
			if m[2] != "" {
				labels = strings.Split(m[2], ",")
			}
			slices.Sort(labels)
			exported[m[1]] = metric{typ, labels}
		}
	}
	set := newMetricsSet()
	for _, c := range set.collectors() {
		typ := "counter"
		switch c.(type) {
		case *prometheus.HistogramVec:
			typ = "histogram"
		case *prometheus.GaugeVec:
			typ = "gauge"
		}
		describe(c, typ)
	}
	if len(exported) != len(set.collectors()) {
		t.Fatalf("%d collectors, %d metrics described", len(set.collectors()), len(exported))
	}
	describe(newStateCollector(nil), "gauge")

	for name, m := range exported {
		d, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s is exported but not in docs/operations.md", name)
		case d.typ != m.typ || !slices.Equal(d.labels, m.labels):
			t.Errorf("%s: documented as %s %v, exported as %s %v", name, d.typ, d.labels, m.typ, m.labels)
		}
	}
	digest, err := os.ReadFile("digestauth/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	for name := range documented {
		if _, ok := exported[name]; ok {
			continue
		}
		if short, ok := strings.CutPrefix(name, "caddy_csb_"); ok && strings.HasPrefix(short, "digest_") &&
			strings.Contains(string(digest), `metricsreg.Opts("`+short+`"`) {
			continue
		}
		t.Errorf("%s is in docs/operations.md but not exported", name)
	}
}
