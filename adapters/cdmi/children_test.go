package cdmi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// crowded is a CDMI server holding a container (and a domain) with many
// children. It answers a read with the fields it names, children:<range>
// with the children in that range (at most limit of them, a server's own
// page size, when limit is set) and childrenrange with the range sent.
type crowded struct {
	kids  []string
	limit int

	mu    sync.Mutex
	reads int
}

func (s *crowded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	ct := cdmi.TypeContainer
	switch r.URL.Path {
	case "/cdmi/csb-j1/":
	case "/cdmi/cdmi_domains/csb-j1/":
		ct = cdmi.TypeDomain
	default:
		http.NotFound(w, r)
		return
	}
	full := map[string]any{"objectType": ct, "objectID": "id-" + r.URL.Path, "completionStatus": "Complete",
		"metadata": map[string]any{"cdmi_domain_enabled": "true"}, "children": s.kids, "childrenrange": "0-" + strconv.Itoa(len(s.kids)-1)}
	out := full
	if q := r.URL.RawQuery; q != "" {
		out = map[string]any{}
		for _, f := range strings.Split(q, ";") {
			name, arg, ok := strings.Cut(f, ":")
			if name == "children" && ok {
				var from, to int
				if _, err := fmt.Sscanf(arg, "%d-%d", &from, &to); err != nil || from > to {
					http.Error(w, "bad range", http.StatusBadRequest)
					return
				}
				to = min(to, len(s.kids)-1)
				if s.limit > 0 {
					to = min(to, from+s.limit-1)
				}
				out["children"] = s.kids[from : to+1]
				full["childrenrange"] = strconv.Itoa(from) + "-" + strconv.Itoa(to)
				continue
			}
			if v, ok := full[name]; ok {
				out[name] = v
			}
		}
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set(cdmi.VersionHeader, cdmi.Version)
	_ = json.NewEncoder(w).Encode(out)
}

// TestStatusOfAContainerWithManyChildren: Status read a container (and a
// domain) whole, and a list of children larger than the 4 MiB answer the
// adapter reads failed every Status of the job, and its Find. The
// container is now read without its children, then its children in
// ranges (?children:<from>-<to>) that each fit an answer: halved when an
// answer is still too large (long names), and continued from where a
// server that sends fewer than asked (its own page size) stopped.
//
// Status then put every child's name in the grant: 100,000 children made
// the grant, and the job record the broker writes on every change of
// the job, and the consumer's answer, megabytes long. The grant now
// carries the first names only, as many whole names as fit in 8 KiB
// joined with commas, and Status reads no more of them.
func TestStatusOfAContainerWithManyChildren(t *testing.T) {
	const bound = 8 << 10
	for _, c := range []struct {
		name  string
		n     int
		width int // the length of each child's name
		limit int
	}{
		{"many", 100000, 48, 0},
		{"long names", 300, 20000, 0},
		{"server page limit", 100000, 48, 50},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &crowded{limit: c.limit}
			for i := range c.n {
				name := fmt.Sprintf("object-%07d-", i)
				s.kids = append(s.kids, name+strings.Repeat("n", c.width-len(name)))
			}
			if b, _ := json.Marshal(s.kids); len(b) <= httpx.MaxBody {
				t.Fatalf("the children list is %d bytes, not larger than an answer", len(b))
			}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			a, err := cdmi.New(cdmi.Config{Endpoint: srv.URL + "/cdmi/"})
			if err != nil {
				t.Fatal(err)
			}
			res := &contract.Resource{URI: srv.URL + "/cdmi/csb-j1/", State: contract.StateReady, Native: map[string]string{
				"container": srv.URL + "/cdmi/csb-j1/", "domain": srv.URL + "/cdmi/cdmi_domains/csb-j1/"}}
			st, err := a.Status(context.Background(), res)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			// The longest run of whole names, from the first, that fits
			// the bound joined with commas.
			want := ""
			for _, k := range s.kids {
				next := k
				if want != "" {
					next = want + "," + k
				}
				if len(next) > bound {
					break
				}
				want = next
			}
			got := func(p *string) string {
				if p == nil {
					return ""
				}
				return *p
			}
			g := st.Granted.DSaaS
			if g.ContainerObject == nil || got(g.ContainerObject.Children) != want {
				t.Errorf("the container's grant holds %d bytes of children, want the first %d bytes", len(got(g.ContainerObject.Children)), len(want))
			}
			if g.DomainObject == nil || got(g.DomainObject.Children) != want {
				t.Errorf("the domain's grant holds %d bytes of children, want the first %d bytes", len(got(g.DomainObject.Children)), len(want))
			}
			s.mu.Lock()
			reads := s.reads
			s.mu.Unlock()
			// Per object, one read of its fields and at most 4 of its
			// children: the server's pages of 50 names, the halved
			// range of long names.
			if reads > 2*5 {
				t.Errorf("%d reads for %d children", reads, c.n)
			}
			found, err := a.Find(context.Background(), &contract.Request{JobID: "j1", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
				ContainerObject: &csbmsg.ContainerObject{}, DomainObject: &csbmsg.DomainObject{}}}})
			if err != nil || found == nil || found.State != contract.StateReady {
				t.Fatalf("find: %+v, %v", found, err)
			}
		})
	}
}
