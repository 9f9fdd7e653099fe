package cdmi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
)

// TestAValueStoredBase64IsGrantedDecoded: CDMI transports the value of a
// data object stored with valuetransferencoding base64 base64-encoded,
// and the adapter granted it as it came: a consumer that stored "hello"
// (as base64, through the job's route) was granted "aGVsbG8=". The
// grant now holds the value stored, decoded; a value that is not text
// (binary bytes no grant can carry) is left out rather than granted
// encoded. The adapter writes values as utf-8, and reads them back the
// same.
func TestAValueStoredBase64IsGrantedDecoded(t *testing.T) {
	for _, c := range []struct {
		name  string
		value string
		whole bool // the server ignores field selection
		want  *string
	}{
		{"text", "hello", false, ptr("hello")},
		{"text, whole reads", "hello", true, ptr("hello")},
		{"binary", "\x00\xff\xfe", false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			s.whole = c.whole
			s.put("/cdmi/csb-j1/", &stored{objectType: cdmi.TypeContainer})
			s.put("/cdmi/csb-j1/data", &stored{objectType: cdmi.TypeObject, mimetype: "text/plain", value: c.value, base64: true})
			a, err := cdmi.New(cdmi.Config{Endpoint: s.URL + "/cdmi/"})
			if err != nil {
				t.Fatal(err)
			}
			st, err := a.Status(context.Background(), &contract.Resource{URI: s.URL + "/cdmi/csb-j1/", State: contract.StateReady,
				Native: map[string]string{"container": s.URL + "/cdmi/csb-j1/", "data_object": s.URL + "/cdmi/csb-j1/data"}})
			if err != nil {
				t.Fatal(err)
			}
			got := st.Granted.DSaaS.DataObject.Value
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Errorf("granted value %q, want %q", deref(got), deref(c.want))
			}
		})
	}
	t.Run("sandbox", func(t *testing.T) {
		_, ep := newSandbox(t, sandbox.Config{})
		a, err := cdmi.New(cdmi.Config{Endpoint: ep})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		res, err := a.Provision(ctx, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: ptr("hello")}}}})
		if err != nil {
			t.Fatal(err)
		}
		if v := res.Granted.DSaaS.DataObject.Value; v == nil || *v != "hello" {
			t.Fatalf("provisioned value %q", deref(v))
		}
		// The consumer writes the object base64-encoded, as CDMI lets
		// any client.
		body, _ := json.Marshal(map[string]string{"valuetransferencoding": "base64", "value": base64.StdEncoding.EncodeToString([]byte("bonjour"))})
		req, _ := http.NewRequest(http.MethodPut, res.Native["data_object"], bytes.NewReader(body))
		req.Header.Set("Content-Type", cdmi.TypeObject)
		req.Header.Set(cdmi.VersionHeader, cdmi.Version)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT: %d", resp.StatusCode)
		}
		st, err := a.Status(ctx, res)
		if err != nil {
			t.Fatal(err)
		}
		if v := st.Granted.DSaaS.DataObject.Value; v == nil || *v != "bonjour" {
			t.Errorf("granted value %q, want %q", deref(v), "bonjour")
		}
		// An update writes utf-8 again, and Status reads it back so.
		up, err := a.Update(ctx, res, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: ptr("salut")}}}})
		if err != nil {
			t.Fatal(err)
		}
		if v := up.Granted.DSaaS.DataObject.Value; v == nil || *v != "salut" {
			t.Errorf("updated value %q", deref(v))
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
