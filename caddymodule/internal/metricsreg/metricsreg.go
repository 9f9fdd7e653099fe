// Package metricsreg registers the process-wide Prometheus collectors of
// the csb modules on a configuration's registry.
package metricsreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace and Subsystem prefix every csb metric: caddy_csb_*.
const Namespace, Subsystem = "caddy", "csb"

// Opts returns the options of a csb metric.
func Opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: Namespace, Subsystem: Subsystem, Name: name, Help: help}
}

// Register registers collectors on a configuration's registry (a nil
// registry registers nothing). A collector already registered there (a
// second module of the same configuration registering it) is not an
// error.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return err
		}
	}
	return nil
}
