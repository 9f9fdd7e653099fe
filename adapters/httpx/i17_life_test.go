package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorCarriesProviderMessage: a refused call's error carries the
// message of the provider's JSON error body, not the body itself.
func TestErrorCarriesProviderMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"cores 64 exceed the offer's 8"}`))
	}))
	defer srv.Close()
	c := &Client{Sleep: noWait}
	_, err := c.Do(context.Background(), Call{Op: "resize", Method: http.MethodPut, URL: srv.URL + "/machine/1"})
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); !strings.Contains(msg, "cores 64 exceed the offer's 8") || strings.ContainsAny(msg, "{}\"") {
		t.Fatalf("error %q: want the provider's message without its JSON", msg)
	}
}
