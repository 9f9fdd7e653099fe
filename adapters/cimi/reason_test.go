package cimi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestJobReasonHoldsNoProviderSecret runs a job through the broker's job
// manager against CIMI providers that fail: one unreachable, its
// endpoint configured with an API key in the query; one answering with
// an echo of the request, the broker's Basic credentials in it. What the
// consumer reads (the job's reason, its attempts' reasons, the answer)
// and what the manager stores held the secrets.
func TestJobReasonHoldsNoProviderSecret(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, _ := httputil.DumpRequest(r, false)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(dump)
	}))
	defer echo.Close()
	unreachable, err := cimi.New(cimi.Config{Endpoint: "http://" + closedAddr(t) + "/cimi?api_key=s3cr3t-key"})
	if err != nil {
		t.Fatal(err)
	}
	unreachable.SetRetryPolicy(noRetry)
	echoing, err := cimi.New(cimi.Config{Endpoint: echo.URL + "/cimi"})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := httpclient.New(httpclient.Config{Auth: httpclient.Auth{Scheme: httpclient.SchemeBasic, Username: "csb", Password: "s3cr3t-pass"}})
	if err != nil {
		t.Fatal(err)
	}
	echoing.SetHTTPClient(hc)
	adapters := map[string]contract.Adapter{"a": unreachable, "b": echoing}

	cat := new(jobstest.Catalog)
	for id := range adapters {
		cat.AddProvider(catalog.ProviderEntry{ID: id})
		cat.AddService(id, jobstest.VM("vm", 8, 32))
	}
	pl, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := jobs.New(jobs.Config{Store: new(store.Memory), Placer: pl, Logger: zap.NewNop(),
		Adapter:        func(id string, _ catalog.Kind) (contract.Adapter, bool) { a, ok := adapters[id]; return a, ok },
		AttemptTimeout: 5 * time.Second, RespondWithin: 5 * time.Second, PollInterval: time.Millisecond, ReapInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Create(context.Background(), "alice", jobstest.VMRequest(2, 4), jobs.CreateOptions{})
	if err != nil || res.Job == nil {
		t.Fatalf("create: %+v, %v", res, err)
	}
	j, err := m.Get(context.Background(), "alice", res.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != jobs.StatusFailed || len(j.Attempts) != 2 {
		t.Fatalf("job %s with %d attempts (%s), want failed after 2", j.Status, len(j.Attempts), j.Reason)
	}
	doc, _ := json.Marshal(j)
	for _, text := range []string{string(doc), res.Reason} {
		for _, secret := range []string{"s3cr3t", "Y3NiOnMzY3IzdC1wYXNz"} {
			if strings.Contains(text, secret) {
				t.Errorf("the job holds %q: %s", secret, text)
			}
		}
	}
}
