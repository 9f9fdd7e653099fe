package caddymodule

// Provider is one cloud service provider the broker fronts.
type Provider struct {
	// ID is the provider's Cloud-Service-Provider-id. Required.
	ID string `json:"id"`
}
