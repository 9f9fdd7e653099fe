//go:build !race

package cimi_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
