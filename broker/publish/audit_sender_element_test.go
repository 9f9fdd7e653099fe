package publish

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAuditHTTPSenderRefusesOtherElement: a provider's HTTP 200 answer
// must carry a <csbresponse> (draft 4.1.1); a well-formed csbpublish
// document holding another element is an error, not an empty answer.
func TestAuditHTTPSenderRefusesOtherElement(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", csbmsg.PublishMediaType)
		io.WriteString(w, `<?xml version="1.0"?><csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish">`+
			`<csbrequest><subscription id="x" seqnumber="1" action="create"/></csbrequest></csbpublish>`)
	}))
	defer srv.Close()
	cfg := SubscriptionConfig{ProviderID: "p", URL: srv.URL, Client: srv.Client()}
	req := &csbmsg.PublishRequest{Subscription: csbmsg.Subscription{ID: "s1", SeqNumber: 1, Action: csbmsg.ActionCreate}}
	resp, err := HTTPSender{}.Send(context.Background(), cfg, req)
	if err == nil || resp != nil || !strings.Contains(err.Error(), "not a <csbresponse>") {
		t.Fatalf("got %+v, %v; want an error naming <csbresponse>", resp, err)
	}
}
