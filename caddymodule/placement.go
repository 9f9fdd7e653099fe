package caddymodule

// ProviderDefaulter is implemented by csb.placement.* modules whose
// defaults come from the provider blocks (weights, prices): the app hands
// them the providers before use.
type ProviderDefaulter interface {
	ProviderDefaults(providers []*Provider)
}
