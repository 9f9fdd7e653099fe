package occi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

func TestErrors(t *testing.T) {
	ctx := context.Background()
	computeReq := func() csbmsg.ServiceRequest {
		return csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1))}}}
	}
	compute := computeReq()

	t.Run("unsupported before anything is created", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		for name, want := range map[string]csbmsg.ServiceRequest{
			"arch":      {IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: p("sparc")}, Storage: &csbmsg.Storage{Size: p(uint64(1))}}},
			"vlan":      {IaaS: &csbmsg.IaaS{Network: &csbmsg.Network{VLAN: p("5000")}}},
			"paas":      {PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "x"}}},
			"lone link": {IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{}, StorageLink: &csbmsg.StorageLink{}}},
		} {
			res, err := a.Provision(ctx, &contract.Request{Want: want})
			if contract.KindOf(err) != contract.KindUnsupported || res != nil {
				t.Errorf("%s: %v, %+v", name, err, res)
			}
		}
		if n := len(srv.Requests()); n > 2 {
			t.Errorf("%d requests for refused provisions", n)
		}
	})

	t.Run("provider 5xx and partial cleanup", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		srv.FailNext(http.MethodPost, "/compute/", http.StatusInternalServerError, 1)
		want := computeReq()
		want.IaaS.Storage = &csbmsg.Storage{Size: p(uint64(1))}
		res, err := a.Provision(ctx, &contract.Request{Want: want})
		var ae *contract.Error
		if !errors.As(err, &ae) || ae.Kind != contract.KindServer || ae.Status != 500 {
			t.Fatalf("err = %v", err)
		}
		if res == nil || res.Native["storage"] == "" {
			t.Fatalf("partial resource = %+v", res)
		}
		if err := a.Remove(ctx, res); err != nil || srv.Count(occi.KindStorage) != 0 {
			t.Errorf("cleanup: %v, %d storages left", err, srv.Count(occi.KindStorage))
		}
	})

	t.Run("provider 4xx", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		srv.FailNext(http.MethodPost, "/compute/", http.StatusForbidden, 1)
		_, err := a.Provision(ctx, &contract.Request{Want: compute})
		if contract.KindOf(err) != contract.KindClient {
			t.Errorf("err = %v", err)
		}
		srv.FailNext(http.MethodPost, "/compute/", http.StatusInsufficientStorage, 1)
		_, err = a.Provision(ctx, &contract.Request{Want: compute})
		if contract.KindOf(err) != contract.KindCapacity {
			t.Errorf("507: err = %v", err)
		}
	})

	t.Run("invalid transition is a conflict", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, func(c *occi.Config) { c.NoStart = true })
		res := provision(t, a, compute)
		_, err := a.Update(ctx, res, &contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: p(csbmsg.ComputeSuspend)}}}})
		var ae *contract.Error
		if !errors.As(err, &ae) || ae.Kind != contract.KindClient || ae.Status != http.StatusConflict {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("idempotent reads are retried, creates are not", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		res := provision(t, a, compute)
		path := strings.TrimPrefix(res.URI, srv.URL)
		srv.FailNext(http.MethodGet, path, http.StatusServiceUnavailable, 2)
		if _, err := a.Status(ctx, res); err != nil {
			t.Errorf("status with two 503s: %v", err)
		}
		srv.FailNext(http.MethodGet, path, http.StatusServiceUnavailable, 3)
		if _, err := a.Status(ctx, res); contract.KindOf(err) != contract.KindServer {
			t.Errorf("status with three 503s: %v", err)
		}
		before := len(srv.Requests())
		srv.FailNext(http.MethodPost, "/compute/", http.StatusServiceUnavailable, 1)
		if _, err := a.Provision(ctx, &contract.Request{Want: compute}); contract.KindOf(err) != contract.KindServer {
			t.Errorf("create with 503: %v", err)
		}
		posts := 0
		for _, r := range srv.Requests()[before:] {
			if r.Method == http.MethodPost {
				posts++
			}
		}
		if posts != 1 {
			for _, r := range srv.Requests()[before:] {
				t.Logf("%s %s?%s", r.Method, r.Path, r.Query)
			}
			t.Errorf("create sent %d times", posts)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		res := provision(t, a, compute)
		release := srv.Hold(http.MethodGet, "/compute/")
		defer release()
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := a.Status(dctx, res)
		if contract.KindOf(err) != contract.KindTimeout {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		srv.Close()
		_, err := a.Provision(ctx, &contract.Request{Want: compute})
		if contract.KindOf(err) != contract.KindTransport {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("gone at the provider", func(t *testing.T) {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		res := provision(t, a, compute)
		srv.Delete(res.URI)
		st, err := a.Status(ctx, res)
		if err != nil || st.State != contract.StateGone {
			t.Errorf("status = %+v, %v", st, err)
		}
		if _, err := a.Update(ctx, res, &contract.Request{Want: compute}); contract.KindOf(err) != contract.KindNotFound {
			t.Errorf("update of a gone resource: %v", err)
		}
		if err := a.Remove(ctx, res); err != nil {
			t.Errorf("remove of a gone resource: %v", err)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []occi.Config{
		{},
		{Endpoint: "ftp://x/"},
		{Endpoint: "http://x/", Rendering: "application/json"},
		{Endpoint: "http://x/", OSTemplate: "no-hash"},
	} {
		if _, err := occi.New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}
