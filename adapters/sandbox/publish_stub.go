//go:build !codec

package sandbox

type pubState struct{}

func newPubState() *pubState { return &pubState{} }
