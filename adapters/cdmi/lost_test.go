package cdmi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAnUpdateWhoseAnswerIsLostIsReadBack: an update PUT the server
// carried out but whose answer the adapter never got (the connection
// closed on every attempt, or a 500 from a backend that failed after the
// write) failed the update: the broker kept the job's old request and
// reported the update failed while the object held the new value. The
// adapter now reads the object back after such an answer and counts the
// update as done when it holds what was asked; a PUT that was never
// carried out still fails the update.
func TestAnUpdateWhoseAnswerIsLostIsReadBack(t *testing.T) {
	for _, c := range []struct {
		name   string
		path   string // the object whose PUT loses its answer
		want   *csbmsg.DSaaS
		answer int // 0: the connection closes
		check  func(*testing.T, stored)
	}{
		{
			name: "data object, connection closed", path: "/cdmi/csb-j1/data", answer: 0,
			want: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: ptr("bonjour"), Mimetype: ptr("text/x-greeting"), Metadata: ptr(`{"lang":"fr"}`)}},
			check: func(t *testing.T, o stored) {
				if o.value != "bonjour" || o.mimetype != "text/x-greeting" || o.metadata["lang"] != "fr" {
					t.Errorf("data object %+v", o)
				}
			},
		},
		{
			name: "data object, 500", path: "/cdmi/csb-j1/data", answer: http.StatusInternalServerError,
			want: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: ptr("bonjour")}},
			check: func(t *testing.T, o stored) {
				if o.value != "bonjour" {
					t.Errorf("data object %+v", o)
				}
			},
		},
		{
			name: "container metadata, 500", path: "/cdmi/csb-j1/", answer: http.StatusInternalServerError,
			want: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{Metadata: ptr("red")}},
			check: func(t *testing.T, o stored) {
				if o.metadata["csb_metadata"] != "red" {
					t.Errorf("container %+v", o)
				}
			},
		},
		{
			name: "domain disabled, 500", path: "/cdmi/cdmi_domains/csb-j1/", answer: http.StatusInternalServerError,
			want: &csbmsg.DSaaS{DomainObject: &csbmsg.DomainObject{Enabled: ptr(false)}},
			check: func(t *testing.T, o stored) {
				if o.metadata["cdmi_domain_enabled"] != "false" {
					t.Errorf("domain %+v", o)
				}
			},
		},
	} {
		for _, carried := range []bool{true, false} {
			name := c.name + "/carried out"
			if !carried {
				name = c.name + "/never carried out"
			}
			t.Run(name, func(t *testing.T) {
				s := newStore(t)
				s.put("/cdmi/cdmi_domains/", &stored{objectType: cdmi.TypeDomain})
				a, err := cdmi.New(cdmi.Config{Endpoint: s.URL + "/cdmi/"})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				res, err := a.Provision(ctx, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
					ContainerObject: &csbmsg.ContainerObject{Metadata: ptr("blue")},
					DataObject:      &csbmsg.DataObject{Value: ptr("hello"), Metadata: ptr(`{"lang":"en"}`)},
					DomainObject:    &csbmsg.DomainObject{Enabled: ptr(true)},
				}}})
				if err != nil {
					t.Fatal(err)
				}
				before, _ := s.object(c.path)
				lost := 0
				s.mu.Lock()
				s.fault = func(r *http.Request) fault {
					if r.Method == http.MethodPut && r.URL.Path == c.path {
						lost++
						return fault{carried: carried, status: c.answer}
					}
					return fault{carried: true, status: -1}
				}
				s.mu.Unlock()
				up, err := a.Update(ctx, res, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: c.want}})
				s.mu.Lock()
				n := lost
				s.fault = nil
				s.mu.Unlock()
				if n == 0 {
					t.Fatal("no answer was lost")
				}
				after, _ := s.object(c.path)
				if !carried {
					if err == nil {
						t.Fatalf("an update never carried out succeeded: %+v", up.Granted.DSaaS)
					}
					if after.value != before.value || after.mimetype != before.mimetype {
						t.Fatalf("the object changed: %+v", after)
					}
					return
				}
				if err != nil {
					t.Fatalf("an update the server carried out failed: %v", err)
				}
				c.check(t, after)
			})
		}
	}
}
