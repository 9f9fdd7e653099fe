package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestSecurityRouteOCCIEntities: through alice's IaaS job route on an
// OCCI provider (the occitest fixture, real OCCI over loopback HTTP), the
// query interface and the collections cannot be read and bob's compute
// can be neither read nor deleted, however the path is spelled, while
// alice reads her compute and stops it; bob's compute is still at the
// provider, and nothing but alice's two requests came through the route.
func TestSecurityRouteOCCIEntities(t *testing.T) {
	fx := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	port := harness.FreePort(t)
	p := secRouteBroker(t, port, fmt.Sprintf(`		provider p1 {
			adapter occi %s/ {
				retries 0
			}
			auth basic provider-user provider-pass
			service vm-p1 {
				kind iaas
				compute {
					architecture x64
					cores 8
					memory 32
					speed 3
				}
				storage {
					size 500
				}
			}
		}
`, fx.URL))
	s := &secRouteSetup{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), broker: p}
	s.c = &consumerBroker{t: t, p: p, url: s.base + "/csb/consumer"}
	aliceJob, aliceURI := s.job("alice", vmRequest(2, 4))
	_, bobURI := s.job("bob", vmRequest(2, 4))
	aliceC, bobC := secRoutePath(t, aliceURI), secRoutePath(t, bobURI)
	if !strings.HasPrefix(aliceC, "/compute/") || !strings.HasPrefix(bobC, "/compute/") || aliceC == bobC {
		t.Fatalf("computes %s and %s", aliceURI, bobURI)
	}
	route := "/csb/jobs/" + aliceJob
	bobID := strings.TrimPrefix(bobC, "/compute/")

	code, body := s.route("alice", "GET", route+aliceC, "", "")
	if code != 200 || !strings.Contains(body, "occi.core.id") {
		t.Fatalf("alice's own compute through her route: HTTP %d %s\n%s", code, body, p.Log())
	}
	stop := `Category: stop; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`
	if code, body := s.route("alice", "POST", route+aliceC+"?action=stop", "text/plain", stop); code >= 300 {
		t.Fatalf("alice stops her compute through her route: HTTP %d %s", code, body)
	}

	for _, tc := range []struct {
		method, path, ct, body string
		status                 int
	}{
		{"GET", "/-/", "", "", 404},
		{"GET", "/.well-known/org/ogf/occi/-/", "", "", 404},
		{"GET", "/compute/", "", "", 404},
		{"GET", "/", "", "", 404},
		{"GET", bobC, "", "", 404},
		{"DELETE", bobC, "", "", 404},
		{"GET", aliceC + "/../" + bobID, "", "", 404},
		{"DELETE", aliceC + "/%2e%2e/" + bobID, "", "", 404},
		{"GET", aliceC + "%2f..%2f" + bobID, "", "", 403},
		{"GET", "/%2e%2e/compute/", "", "", 403},
		{"DELETE", aliceC, "", "", 403},
		{"POST", aliceC, "text/plain", "X-OCCI-Attribute: occi.compute.cores=8", 403},
		{"PUT", aliceC, "text/plain", "X-OCCI-Attribute: occi.compute.cores=8", 403},
	} {
		code, body := s.route("alice", tc.method, route+tc.path, tc.ct, tc.body)
		secRouteRefused(t, tc.method+" "+tc.path, tc.status, code, body, "occi.core.id", "Category:")
	}

	if _, _, _, ok := fx.Entity(bobC); !ok {
		t.Fatalf("bob's compute %s is gone from the provider", bobC)
	}
	// What came through the route (the reverse proxy marks it with
	// X-Forwarded-For; the adapter's own calls do not carry it) named
	// alice's compute only.
	forwarded := 0
	for _, r := range fx.Requests() {
		if r.Header.Get("X-Forwarded-For") == "" {
			continue
		}
		forwarded++
		if r.Path != aliceC {
			t.Errorf("the provider received %s %s through alice's route", r.Method, r.Path)
		}
	}
	if forwarded != 2 {
		t.Errorf("%d requests came through alice's route, want her GET and her stop", forwarded)
	}
}
