// Package lazy builds a native API client on first use and keeps it, the
// way the adapters that hold SDK clients (aws: S3 and EC2; openstack:
// Nova and Swift) all do.
package lazy

import "sync"

// Get returns *slot, building it first when it is nil (never built, or
// dropped since, e.g. on a new HTTP client or a re-authentication). base
// obtains what every client is built from (an SDK configuration, an
// authenticated provider); it is called before mu is taken, as it may
// take mu itself. build runs under mu, so one client is built at a time
// and concurrent callers share it; a failed build leaves *slot nil.
func Get[B, C any](mu *sync.Mutex, slot **C, base func() (B, error), build func(B) (*C, error)) (*C, error) {
	b, err := base()
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if *slot != nil {
		return *slot, nil
	}
	c, err := build(b)
	if err != nil {
		return nil, err
	}
	*slot = c
	return c, nil
}
