//go:build race

package cimi_test

// raceEnabled: the race detector allocates on its own account, so
// allocation counts are not the adapter's.
const raceEnabled = true
