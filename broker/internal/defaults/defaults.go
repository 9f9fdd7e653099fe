// Package defaults fills the unset fields of the engine's config types
// (the WithDefaults methods of jobs.Config, catalog.Options,
// publish.ManagerOptions, digest.ServerConfig, csbmsg.Limits and the
// like), so each states only which field takes which default.
package defaults

// Zero sets *v to d when *v is its type's zero value.
func Zero[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Positive sets *v to d when *v is zero or negative.
func Positive[T ~int | ~int64 | ~float64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
