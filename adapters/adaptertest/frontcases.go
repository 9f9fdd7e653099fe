package adaptertest

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// FrontCase is one consumer request through a job route, for
// RunFrontCases: the method, the route path and query below the job id
// (as the broker cleaned it), a Content-Type and body, and the expected
// outcome: Status 0 means Front forwards it to Want (the full URL),
// otherwise Front refuses it with that HTTP status.
type FrontCase struct {
	Method, Path, ContentType, Body string
	Header                          map[string]string
	Status                          int
	Want                            string
}

// RunFrontCases sends each case through f.Front for res, without a
// network, and checks where it goes or how it is refused. A forwarded
// request must go to the host it names, with its body intact.
func RunFrontCases(t *testing.T, f contract.Fronter, res *contract.Resource, cases []FrontCase) {
	t.Helper()
	for _, tc := range cases {
		var body io.Reader
		if tc.Body != "" {
			body = strings.NewReader(tc.Body)
		}
		r := httptest.NewRequest(tc.Method, "http://consumer.invalid"+tc.Path, body)
		if tc.ContentType != "" {
			r.Header.Set("Content-Type", tc.ContentType)
		}
		for k, v := range tc.Header {
			r.Header.Set(k, v)
		}
		up, err := f.Front(context.Background(), r, res)
		name := tc.Method + " " + tc.Path
		if tc.Status != 0 {
			var ae *contract.Error
			if !errors.As(err, &ae) || ae.Status != tc.Status {
				t.Errorf("%s: %v (to %s), want a %d refusal", name, err, r.URL, tc.Status)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.URL.String() != tc.Want || up.Host != r.URL.Host || r.Host != r.URL.Host {
			t.Errorf("%s: forwarded to %s (Host %s, upstream %s), want %s", name, r.URL, r.Host, up, tc.Want)
		}
		if tc.Body != "" {
			got, _ := io.ReadAll(r.Body)
			if string(got) != tc.Body {
				t.Errorf("%s: body %q forwarded as %q", name, tc.Body, got)
			}
		}
	}
}
