package csbmsg

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestJobListRoundTrip(t *testing.T) {
	cores := uint64(2)
	l := &JobList{Version: Version, Responses: []*ServiceResponse{
		{Status: StatusOK, Reason: "provisioned at p1", JobInfo: &ResponseJobInfo{JobID: "a1", JobStatus: "success", Expires: 3600, CloudServiceURI: "http://p1/m/1"},
			IaaS: &IaaS{Compute: &Compute{Cores: &cores}}},
		{Status: StatusOK, JobInfo: &ResponseJobInfo{JobID: "b2", JobStatus: "failed"}},
	}}
	data, err := MarshalJobList(l)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "<CloudServiceResponse "); n != 2 {
		t.Fatalf("%d responses written:\n%s", n, data)
	}
	got, err := ParseJobList(data, Options{Mode: Strict})
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, l) {
		t.Fatalf("round trip: got %+v, want %+v", got, l)
	}

	// An empty list is a bare root, and one job is an ordinary
	// <csbconsumer> response that ParseConsumer reads too.
	data, err = MarshalJobList(&JobList{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseJobList(data, Options{}); err != nil || len(got.Responses) != 0 {
		t.Fatalf("empty list: %v %+v\n%s", err, got, data)
	}
	data, _ = MarshalJobList(&JobList{Responses: l.Responses[:1]})
	if c, err := ParseConsumer(data, Options{Mode: Strict}); err != nil || c.Response.JobInfo.JobID != "a1" {
		t.Fatalf("one job as a consumer message: %v", err)
	}
}

func TestJobListRefuses(t *testing.T) {
	if _, err := MarshalJobList(&JobList{Responses: []*ServiceResponse{{Status: 0}}}); err == nil {
		t.Error("status 0 serialised")
	}
	if _, err := MarshalJobList(&JobList{Responses: []*ServiceResponse{nil}}); err == nil {
		t.Error("nil response serialised")
	}
	root := `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" xmlns:x="urn:x" version="1.0">`
	for _, c := range []struct {
		body   string
		status Status
	}{
		{root + `<CloudServiceRequest><SaaS/></CloudServiceRequest></csbconsumer>`, StatusSyntaxError},
		{root + `text</csbconsumer>`, StatusSyntaxError},
		{root + `<x:y/></csbconsumer>`, StatusUnsupported},
		{root + `<CloudServiceResponse status="abc"/></csbconsumer>`, StatusSyntaxError},
		{`<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" version="1.0"/>`, StatusSyntaxError},
	} {
		_, err := ParseJobList([]byte(c.body), Options{})
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status {
			t.Errorf("%s: got %v, want status %d", c.body, err, c.status)
		}
	}
}
