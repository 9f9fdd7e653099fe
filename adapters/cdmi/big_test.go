package cdmi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestStatusOfADataObjectLargerThanAnAnswer: Status read a data object
// whole, value included, and the adapter reads no answer larger than
// 4 MiB: the status of a job whose data object had grown past that (the
// consumer writes it through the job route) failed on every poll, and so
// did Find. CDMI reads the fields a client names (GET <object>?<field>;
// ...); Status and Find now read the object without its value, and the
// value, for the grant, only when the object's cdmi_size says it fits.
func TestStatusOfADataObjectLargerThanAnAnswer(t *testing.T) {
	for _, c := range []struct {
		name string
		size int
	}{{"5 MiB", 5 << 20}, {"small", 5}} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			value := strings.Repeat("x", c.size)
			s.put("/cdmi/csb-j1/", &stored{objectType: cdmi.TypeContainer})
			s.put("/cdmi/csb-j1/data", &stored{objectType: cdmi.TypeObject, mimetype: "text/plain", metadata: map[string]any{"csb_metadata": "big"}, value: value})
			a, err := cdmi.New(cdmi.Config{Endpoint: s.URL + "/cdmi/"})
			if err != nil {
				t.Fatal(err)
			}
			res := &contract.Resource{URI: s.URL + "/cdmi/csb-j1/", State: contract.StateReady, Native: map[string]string{
				"container": s.URL + "/cdmi/csb-j1/", "data_object": s.URL + "/cdmi/csb-j1/data"}}
			st, err := a.Status(context.Background(), res)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			d := st.Granted.DSaaS.DataObject
			if st.State != contract.StateReady || d == nil || d.Mimetype == nil || *d.Mimetype != "text/plain" || d.Metadata == nil || *d.Metadata != "big" || d.ObjectID == nil {
				t.Fatalf("status %s, data object %+v", st.State, d)
			}
			if c.size < 1<<20 {
				if d.Value == nil || *d.Value != value {
					t.Errorf("the small object's value is not granted: %v", d.Value)
				}
			} else if d.Value != nil {
				t.Errorf("a %d-byte value was granted", len(*d.Value))
			}
			found, err := a.Find(context.Background(), &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}}}})
			if err != nil || found == nil || found.Native["data_object"] == "" || found.State != contract.StateReady {
				t.Fatalf("find: %+v, %v", found, err)
			}
			for _, g := range s.gets() {
				if c.size >= 1<<20 && strings.HasSuffix(g, "/data") {
					t.Errorf("the large object was read whole: GET %s", g)
				}
			}
		})
	}
}
