package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/metricsreg"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/publish"
)

// fakeAdapter is an adapter whose optional interfaces are chosen by
// wrapping it in the types below.
type fakeAdapter struct{ err error }

func (f *fakeAdapter) Provision(context.Context, *contract.Request) (*contract.Resource, error) {
	return &contract.Resource{URI: "x"}, f.err
}
func (f *fakeAdapter) Status(_ context.Context, r *contract.Resource) (*contract.Resource, error) {
	return r, f.err
}
func (f *fakeAdapter) Update(_ context.Context, r *contract.Resource, _ *contract.Request) (*contract.Resource, error) {
	return r, f.err
}
func (f *fakeAdapter) Remove(context.Context, *contract.Resource) error { return f.err }

type withD struct{ *fakeAdapter }

func (withD) Discover(context.Context) ([]csbmsg.Service, error) { return nil, nil }

type withF struct{ *fakeAdapter }

func (withF) Find(context.Context, *contract.Request) (*contract.Resource, error) { return nil, nil }

type withK struct{ *fakeAdapter }

func (withK) ServiceKinds() []string { return []string{"IaaS"} }

type withDF struct{ withD }

func (withDF) Find(context.Context, *contract.Request) (*contract.Resource, error) { return nil, nil }

type withDK struct{ withD }

func (withDK) ServiceKinds() []string { return []string{"IaaS"} }

type withFK struct{ withF }

func (withFK) ServiceKinds() []string { return []string{"IaaS"} }

type withDFK struct{ withDF }

func (withDFK) ServiceKinds() []string { return []string{"IaaS"} }

// The wrapper has exactly the optional interfaces of the adapter it
// wraps: adding one would change the broker's behaviour (a Finder is
// asked after a crash, a KindReporter chooses the adapter per model).
func TestInstrumentAdapterKeepsInterfaces(t *testing.T) {
	f := &fakeAdapter{}
	for _, ad := range []contract.Adapter{f, withD{f}, withF{f}, withK{f}, withDF{withD{f}}, withDK{withD{f}}, withFK{withF{f}},
		withDFK{withDF{withD{f}}}} {
		w := instrumentAdapter("p", ad)
		for _, c := range []struct {
			name   string
			in, on bool
		}{
			{"Discoverer", is[contract.Discoverer](ad), is[contract.Discoverer](w)},
			{"Finder", is[contract.Finder](ad), is[contract.Finder](w)},
			{"KindReporter", is[contract.KindReporter](ad), is[contract.KindReporter](w)},
		} {
			if c.in != c.on {
				t.Errorf("%T: %s on the adapter %v, on the wrapper %v", ad, c.name, c.in, c.on)
			}
		}
		if u, ok := w.(unwrapper); !ok || u.Unwrap() != ad {
			t.Errorf("%T: Unwrap does not return the adapter", ad)
		}
		if instrumentAdapter("p", w) != w {
			t.Errorf("%T: wrapped twice", ad)
		}
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

func TestInstrumentAdapterCounts(t *testing.T) {
	ok := instrumentAdapter("metrics-test-ok", &fakeAdapter{})
	bad := instrumentAdapter("metrics-test-bad", withF{&fakeAdapter{err: &contract.Error{Kind: contract.KindCapacity, Op: "provision"}}})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		ok.Provision(ctx, &contract.Request{})
	}
	bad.Provision(ctx, &contract.Request{})
	bad.Remove(ctx, &contract.Resource{})
	bad.(contract.Finder).Find(ctx, &contract.Request{})

	calls := func(provider, op string) int {
		var m dto.Metric
		if err := csbMetrics.adapterCalls.WithLabelValues(provider, op).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return int(m.GetHistogram().GetSampleCount())
	}
	if n := calls("metrics-test-ok", "provision"); n != 3 {
		t.Fatalf("ok provision calls %d, want 3", n)
	}
	for _, c := range []struct {
		op, kind string
		want     float64
	}{{"provision", "capacity", 1}, {"remove", "capacity", 1}, {"find", "capacity", 0}} {
		if got := testutil.ToFloat64(csbMetrics.adapterErrors.WithLabelValues("metrics-test-bad", c.op, c.kind)); got != c.want {
			t.Errorf("errors %s/%s = %v, want %v", c.op, c.kind, got, c.want)
		}
	}
	if got := testutil.ToFloat64(csbMetrics.adapterErrors.WithLabelValues("metrics-test-ok", "provision", "capacity")); got != 0 {
		t.Errorf("successful calls counted as errors: %v", got)
	}
	for err, want := range map[error]string{
		context.Canceled: "canceled",
		fmt.Errorf("x: %w", context.DeadlineExceeded): "timeout",
		errors.New("boom"):                            "other",
		&contract.Error{Kind: contract.KindServer}:    "provider_5xx",
	} {
		if got := errorKind(err); got != want {
			t.Errorf("errorKind(%v) = %s, want %s", err, got, want)
		}
	}
}

// Registering on every configuration's registry: twice on the same one is
// not an error (two modules of one configuration), and a fresh pedantic
// registry (a reload) takes the same collectors again and gathers them
// consistently.
func TestRegisterMetricsEveryLoad(t *testing.T) {
	r1 := prometheus.NewPedanticRegistry()
	if err := metricsreg.Register(r1, csbMetrics.collectors()...); err != nil {
		t.Fatal(err)
	}
	if err := metricsreg.Register(r1, csbMetrics.collectors()...); err != nil {
		t.Fatalf("second registration on the same registry: %v", err)
	}
	csbMetrics.observeNotification(publish.Result{Response: csbmsg.PublishResponse{Status: 200}, Outcome: publish.OutcomeApplied})
	r2 := prometheus.NewPedanticRegistry()
	if err := metricsreg.Register(r2, csbMetrics.collectors()...); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*prometheus.Registry{r1, r2} {
		mfs, err := r.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == "caddy_csb_notifications_total" {
				found = true
			}
		}
		if !found {
			t.Fatal("caddy_csb_notifications_total not gathered")
		}
	}
	// A collector with the same name but another identity is refused.
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "caddy_csb_notifications_total", Help: "x"}, []string{"status"})
	if err := metricsreg.Register(r1, other); err == nil {
		t.Fatal("a conflicting collector was accepted")
	}
}

func TestMetricNamesLint(t *testing.T) {
	for _, c := range csbMetrics.collectors() {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			if !strings.Contains(p.Text, "counter metrics should have \"_total\" suffix") {
				t.Errorf("%s: %s", p.Metric, p.Text)
			}
		}
	}
}
