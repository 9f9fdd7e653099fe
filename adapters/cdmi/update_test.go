package cdmi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAFailedUpdateLeavesNothingChanged: Update changed the container's
// metadata, then the data object, then the queue's and the domain's
// metadata, and a step that failed left the ones before it done: the
// broker kept the job's old request (and grant) while the provider held
// part of the new one. The metadata changes now come first and the data
// object's last, and a failed step undoes the changes before it (and
// its own when the provider may have made it unseen); an unknown
// capability type is refused before anything is changed.
func TestAFailedUpdateLeavesNothingChanged(t *testing.T) {
	newRequest := &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{Metadata: ptr("red")},
		DataObject:      &csbmsg.DataObject{Value: ptr("bonjour")},
		QueueObject:     &csbmsg.QueueObject{Metadata: ptr(`{"prio":"high"}`)},
		DomainObject:    &csbmsg.DomainObject{Metadata: ptr("new domain"), Enabled: ptr(false)},
	}
	for _, c := range []struct {
		name string
		want *csbmsg.DSaaS
		// fail decides which request fails, and how: the n-th PUT (from
		// 1) to a path.
		path     string
		nth      int
		answer   int
		carried  bool
		undoFail bool // the undo's PUT to the container fails too
		getFails bool // reads of path fail after its failed PUT
	}{
		{name: "data object refused", want: newRequest, path: "/cdmi/csb-j1/data", nth: 1, answer: http.StatusInsufficientStorage},
		{name: "domain refused", want: newRequest, path: "/cdmi/cdmi_domains/csb-j1/", nth: 1, answer: http.StatusForbidden},
		{name: "queue made unseen", want: newRequest, path: "/cdmi/csb-j1/queue", nth: 1, answer: http.StatusInternalServerError, carried: true, getFails: true},
		{name: "undo fails", want: newRequest, path: "/cdmi/csb-j1/data", nth: 1, answer: http.StatusInsufficientStorage, undoFail: true},
		{name: "unknown capability type", want: &csbmsg.DSaaS{
			ContainerObject:  &csbmsg.ContainerObject{Metadata: ptr("red")},
			CapabilityObject: &csbmsg.CapabilityObject{Type: ptr(csbmsg.CapabilityType("no such type"))},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			s.put("/cdmi/cdmi_domains/", &stored{objectType: cdmi.TypeDomain})
			a, err := cdmi.New(cdmi.Config{Endpoint: s.URL + "/cdmi/"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			res, err := a.Provision(ctx, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
				ContainerObject: &csbmsg.ContainerObject{Metadata: ptr("blue")},
				DataObject:      &csbmsg.DataObject{Value: ptr("hello")},
				QueueObject:     &csbmsg.QueueObject{Metadata: ptr(`{"prio":"low"}`)},
				DomainObject:    &csbmsg.DomainObject{Metadata: ptr("old domain"), Enabled: ptr(true)},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			paths := []string{"/cdmi/csb-j1/", "/cdmi/csb-j1/data", "/cdmi/csb-j1/queue", "/cdmi/cdmi_domains/csb-j1/"}
			before := map[string]stored{}
			for _, p := range paths {
				before[p], _ = s.object(p)
			}
			puts := map[string]int{}
			s.mu.Lock()
			s.fault = func(r *http.Request) fault {
				if r.Method != http.MethodPut {
					if c.getFails && r.URL.Path == c.path && puts[c.path] >= c.nth {
						return fault{carried: false, status: http.StatusInternalServerError}
					}
					return fault{carried: true, status: -1}
				}
				puts[r.URL.Path]++
				if r.URL.Path == c.path && puts[r.URL.Path] == c.nth {
					return fault{carried: c.carried, status: c.answer}
				}
				if c.undoFail && r.URL.Path == "/cdmi/csb-j1/" && puts[r.URL.Path] > 1 {
					return fault{carried: false, status: http.StatusInternalServerError}
				}
				return fault{carried: true, status: -1}
			}
			s.mu.Unlock()
			up, err := a.Update(ctx, res, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: c.want}})
			s.mu.Lock()
			s.fault = nil
			s.mu.Unlock()
			if err == nil {
				t.Fatalf("the update succeeded: %+v", up.Granted.DSaaS)
			}
			if c.undoFail {
				if !strings.Contains(err.Error(), "undoing") {
					t.Errorf("the error does not say the undo failed: %v", err)
				}
				if contract.KindOf(err) != contract.KindCapacity {
					t.Errorf("the error's kind is %s, not the failed step's", contract.KindOf(err))
				}
				return
			}
			for _, p := range paths {
				after, _ := s.object(p)
				b := before[p]
				if after.value != b.value || !sameUser(after.metadata, b.metadata) {
					t.Errorf("%s changed: %+v, was %+v", p, after, b)
				}
			}
		})
	}
}

// sameUser reports whether two objects' metadata hold the same items,
// as text.
func sameUser(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestAnUpdateWhoseResultCannotBeReadIsDone: an update whose changes all
// went through at the provider, but whose last read (the status that
// builds the granted resource) failed, returned an error: the broker
// recorded the update failed and kept the job's old request and grant
// while the provider held the new values. The update is now done: the
// resource handed back grants the values written merged into the grant
// before, and is pending, so the next Status reads the actual values. A
// capability object the provider does not have (a read answered 404) is
// still a failed update.
func TestAnUpdateWhoseResultCannotBeReadIsDone(t *testing.T) {
	s := newStore(t)
	s.put("/cdmi/cdmi_domains/", &stored{objectType: cdmi.TypeDomain})
	a, err := cdmi.New(cdmi.Config{Endpoint: s.URL + "/cdmi/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{Metadata: ptr("blue")},
		DataObject:      &csbmsg.DataObject{Value: ptr("hello"), Mimetype: ptr("text/plain")},
		QueueObject:     &csbmsg.QueueObject{Metadata: ptr("low")},
		DomainObject:    &csbmsg.DomainObject{Metadata: ptr("old domain"), Enabled: ptr(true)},
	}}})
	if err != nil || res.State != contract.StateReady {
		t.Fatalf("provision: %+v, %v", res, err)
	}
	// Once the data object's PUT, the update's last change, is carried
	// out, every read fails.
	var written atomic.Bool
	s.mu.Lock()
	s.fault = func(r *http.Request) fault {
		if r.Method == http.MethodPut && r.URL.Path == "/cdmi/csb-j1/data" {
			written.Store(true)
		}
		if r.Method == http.MethodGet && written.Load() {
			return fault{carried: false, status: http.StatusInternalServerError}
		}
		return fault{carried: true, status: -1}
	}
	s.mu.Unlock()
	up, err := a.Update(ctx, res, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{Metadata: ptr("red")},
		DataObject:      &csbmsg.DataObject{Value: ptr("bonjour")},
		QueueObject:     &csbmsg.QueueObject{Metadata: ptr("high")},
		DomainObject:    &csbmsg.DomainObject{Enabled: ptr(false)},
	}}})
	s.mu.Lock()
	s.fault = nil
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("the update failed: %v", err)
	}
	if up.State != contract.StatePending {
		t.Errorf("state %s, want pending", up.State)
	}
	granted := func(g *csbmsg.DSaaS) string {
		if g == nil || g.ContainerObject == nil || g.DataObject == nil || g.QueueObject == nil || g.DomainObject == nil {
			return fmt.Sprintf("%+v", g)
		}
		return fmt.Sprintf("container %s, data %s (%s), queue %s, domain %s enabled %v", shown(g.ContainerObject.Metadata),
			shown(g.DataObject.Value), shown(g.DataObject.Mimetype), shown(g.QueueObject.Metadata), shown(g.DomainObject.Metadata), shown(g.DomainObject.Enabled))
	}
	const want = "container red, data bonjour (text/plain), queue high, domain old domain enabled false"
	if got := granted(up.Granted.DSaaS); got != want {
		t.Errorf("granted %s, want %s", got, want)
	}
	if o, _ := s.object("/cdmi/csb-j1/"); o.metadata["csb_metadata"] != "red" {
		t.Errorf("the container's change was undone: %v", o.metadata)
	}
	st, err := a.Status(ctx, up)
	if err != nil || st.State != contract.StateReady {
		t.Fatalf("status after the update: %+v, %v", st, err)
	}
	if got := granted(st.Granted.DSaaS); got != want {
		t.Errorf("status grants %s, want %s", got, want)
	}

	// A capability object the provider lacks: the read answers 404.
	_, err = a.Update(ctx, st, &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		CapabilityObject: &csbmsg.CapabilityObject{Type: ptr(csbmsg.CapContainer)}}}})
	if contract.KindOf(err) != contract.KindNotFound {
		t.Errorf("an update naming a capability object the provider lacks: %v, want not_found", err)
	}
}

// shown is *p, or nil.
func shown[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
