package csbadapters

import (
	"net/http"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// held is the adapter a guest module built in Provision. Embedded in the
// module, it makes the module a contract.Holder and a
// caddymodule.HTTPClientSetter.
type held[A interface {
	contract.Adapter
	SetHTTPClient(*http.Client)
}] struct {
	adapter A
}

// CSBAdapter returns the provisioned adapter (contract.Holder).
func (h *held[A]) CSBAdapter() contract.Adapter { return h.adapter }

// SetHTTPClient hands the adapter the provider's HTTP client.
func (h *held[A]) SetHTTPClient(c *http.Client) { h.adapter.SetHTTPClient(c) }

// hold keeps the adapter a constructor built, or returns its error.
func (h *held[A]) hold(a A, err error) error {
	if err != nil {
		return err
	}
	h.adapter = a
	return nil
}
