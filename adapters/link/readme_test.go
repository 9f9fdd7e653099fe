package link

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestReadmeOperations keeps README.md's operation table in step with
// the adapter. The table has one row per operation the adapter
// implements (the contract.Adapter methods, and any optional interface's);
// and each row names the resource states and failure kinds the operation
// yields, and no other: the outcomes come from running the operation on
// the scenarios below. A failure kind named only in the "Refused as"
// paragraph counts for every operation.
func TestReadmeOperations(t *testing.T) {
	rows := adaptertest.ReadmeTable(t, readme, "| operation | what happens |")
	refused := adaptertest.ReadmeParagraph(t, readme, "Refused as")

	var ops []string
	var a any = &Adapter{}
	for _, it := range []reflect.Type{
		reflect.TypeFor[contract.Adapter](), reflect.TypeFor[contract.Finder](),
		reflect.TypeFor[contract.Discoverer](), reflect.TypeFor[contract.KindReporter](),
	} {
		if reflect.TypeOf(a).Implements(it) {
			for i := range it.NumMethod() {
				ops = append(ops, strings.ToLower(it.Method(i).Name))
			}
		}
	}
	var listed []string
	for _, cells := range rows {
		listed = append(listed, cells[0])
	}
	slices.Sort(ops)
	slices.Sort(listed)
	if !slices.Equal(ops, listed) {
		t.Fatalf("README lists the operations %v; the adapter implements %v", listed, ops)
	}

	outcomes := runScenarios(t)
	vocabulary := map[string]bool{}
	for _, s := range []contract.State{contract.StatePending, contract.StateReady, contract.StateFailed, contract.StateGone} {
		vocabulary[string(s)] = true
	}
	for _, k := range []contract.ErrorKind{contract.KindClient, contract.KindServer, contract.KindTimeout,
		contract.KindUnsupported, contract.KindCapacity, contract.KindTransport, contract.KindNotFound} {
		vocabulary[string(k)] = true
	}
	refusedKinds := adaptertest.Backticked(refused)
	for _, cells := range rows {
		op, got := cells[0], outcomes[cells[0]]
		var named []string
		for _, tok := range adaptertest.Backticked(cells[1]) {
			if vocabulary[tok] {
				named = append(named, tok)
				if !got[tok] {
					t.Errorf("README says %s yields %s; it does not", op, tok)
				}
			}
		}
		for o := range got {
			if !slices.Contains(named, o) && !slices.Contains(refusedKinds, o) {
				t.Errorf("%s yields %s, which README's row does not say", op, o)
			}
		}
	}
	for _, k := range refusedKinds {
		if vocabulary[k] && !outcomes["provision"][k] && !outcomes["update"][k] {
			t.Errorf("README says requests are refused as %s; none is", k)
		}
	}
}

const readme = "README.md"

// runScenarios runs every operation on ordinary and refused inputs and
// returns, per operation, the states and failure kinds it yielded.
func runScenarios(t *testing.T) map[string]map[string]bool {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[string]bool{}
	note := func(op string, res *contract.Resource, err error) {
		if out[op] == nil {
			out[op] = map[string]bool{}
		}
		var ae *contract.Error
		switch {
		case errors.As(err, &ae):
			out[op][string(ae.Kind)] = true
		case err != nil:
			t.Errorf("%s: an error without a kind: %v", op, err)
		case res != nil:
			out[op][string(res.State)] = true
		}
	}
	crm := csbmsg.Service{ID: "crm", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: "https://crm.example.org/t/"}}}
	apps := csbmsg.Service{ID: "apps", URI: "http://paas.example.org/", PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "app"}}}
	saas := func(rel, href string) csbmsg.ServiceRequest {
		return csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: rel, Href: href}}}
	}
	var a Adapter
	provision := func(want csbmsg.ServiceRequest, s csbmsg.Service) *contract.Resource {
		res, err := a.Provision(ctx, &contract.Request{Want: want, Service: s})
		note("provision", res, err)
		return res
	}
	res := provision(saas("CRM", ""), crm)
	provision(csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{}}, apps)
	provision(csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}, crm)
	provision(csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}, crm)
	provision(saas("erp", ""), crm)
	provision(saas("", ""), csbmsg.Service{ID: "none", SaaS: &csbmsg.SaaS{}})
	provision(saas("", ""), csbmsg.Service{ID: "rel", URI: "crm.example.org/t/", SaaS: &csbmsg.SaaS{}})
	provision(saas("", ""), csbmsg.Service{ID: "ftp", URI: "ftp://files.example.org/", SaaS: &csbmsg.SaaS{}})
	if res == nil {
		t.Fatal("provision refused an ordinary request")
	}

	st, err := a.Status(ctx, res)
	note("status", st, err)
	update := func(want csbmsg.ServiceRequest, s csbmsg.Service) {
		r, err := a.Update(ctx, res, &contract.Request{Want: want, Service: s})
		note("update", r, err)
	}
	update(saas("crm", ""), crm)
	update(saas("erp", ""), crm)
	update(saas("", "https://elsewhere.example.org/"), crm)
	update(csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{}}, apps)
	update(csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}, crm)

	for range 2 {
		note("remove", nil, a.Remove(ctx, res))
	}
	st, err = a.Status(ctx, res)
	note("status", st, err)
	update(saas("crm", ""), crm)
	return out
}

// TestReadmeSchemes: the default schemes README gives (in the provision
// row and the Caddyfile example's comment) are the adapter's, and the
// adapter accepts those and refuses others.
func TestReadmeSchemes(t *testing.T) {
	raw := adaptertest.ReadmeParagraph(t, readme, "```caddyfile")
	m := regexp.MustCompile(`# default: ([a-z ]+)`).FindStringSubmatch(raw)
	if m == nil || !slices.Equal(strings.Fields(m[1]), defaultSchemes) {
		t.Errorf("README's example says %q; the default schemes are %v", m, defaultSchemes)
	}
	var prov string
	for _, cells := range adaptertest.ReadmeTable(t, readme, "| operation | what happens |") {
		if cells[0] == "provision" {
			prov = cells[1]
		}
	}
	m = regexp.MustCompile("absolute ((?:`[a-z]+`/?)+) URL").FindStringSubmatch(prov)
	if m == nil || !slices.Equal(adaptertest.Backticked(m[1]), defaultSchemes) {
		t.Errorf("README's provision row says %q; the default schemes are %v", m, defaultSchemes)
	}
	var a Adapter
	for _, sc := range append(slices.Clone(defaultSchemes), "ftp", "ws") {
		_, err := a.href(csbmsg.Service{ID: "s", URI: sc + "://svc.example.org/"}, nil)
		if ok := err == nil; ok != slices.Contains(defaultSchemes, sc) {
			t.Errorf("scheme %s: accepted=%v, default schemes %v", sc, ok, defaultSchemes)
		}
	}
}
