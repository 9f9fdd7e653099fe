package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads a Caddy's /metrics from its admin endpoint.
func scrape(t testing.TB, admin string) metrics {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, data)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return metrics(mfs)
}

// metrics are the metric families of one scrape.
type metrics map[string]*dto.MetricFamily

// value returns the value of the series of name whose labels include
// labels ("k=v" pairs): a counter's or gauge's value, a histogram's
// sample count. Missing series count 0. Several matching series are
// summed.
func (m metrics) value(name string, labels ...string) float64 {
	mf := m[name]
	if mf == nil {
		return 0
	}
	sum := 0.0
	for _, s := range mf.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func hasLabels(s *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range s.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		if have[k] != v {
			return false
		}
	}
	return true
}

// dump lists the caddy_csb_ series, for failure messages.
func (m metrics) dump() string {
	var names []string
	for n := range m {
		if strings.HasPrefix(n, "caddy_csb_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		for _, s := range m[n].GetMetric() {
			var ls []string
			for _, l := range s.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			fmt.Fprintf(&b, "%s{%s} %v\n", n, strings.Join(ls, ","), metrics{n: m[n]}.value(n, ls...))
		}
	}
	return b.String()
}

// adminDo sends a request to a Caddy's admin endpoint and returns the
// status, the Content-Type and the body.
func adminDo(t testing.TB, admin, method, path, accept, contentType string, body []byte) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}
