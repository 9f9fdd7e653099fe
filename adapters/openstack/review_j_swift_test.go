package openstack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestSwiftMetadataTooLarge: Swift refuses metadata whose keys and
// values take more than max_meta_overall_size (4096 bytes by default),
// though every item is within the per-item limits. The adapter promises
// to refuse what headers cannot carry before Swift is called
// (unsupported); it created the container and failed with provider_4xx.
func TestSwiftMetadataTooLarge(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := tempAuthAdapter(t, sw)
	api := newSwiftAPI(t, sw)
	ctx := context.Background()
	var items []string
	for i := range 17 { // 17 × (2 or 3 + 250) bytes > 4096
		items = append(items, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", 250)))
	}
	big := strings.Join(items, "; ")
	for _, d := range []*csbmsg.DSaaS{
		{ContainerObject: &csbmsg.ContainerObject{Metadata: s(big)}},
		{DataObject: &csbmsg.DataObject{Value: s("x"), Metadata: s(big)}},
	} {
		res, err := a.Provision(ctx, &contract.Request{JobID: "big-meta", Want: csbmsg.ServiceRequest{DSaaS: d}})
		if res != nil {
			t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
		}
		if contract.KindOf(err) != contract.KindUnsupported || res != nil {
			t.Fatalf("metadata over 4096 bytes: %v %v, want unsupported and nothing created", res, err)
		}
		if resp, _ := api.do(http.MethodGet, "/csb-big-meta", "", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("the container was created: %s", resp.Status)
		}
	}
}
