//go:build !linux

package caddymodule

import "os"

// fsSync is not available here: Stores are certmagic's own.
func fsSync(string) func([]*os.File) error { return nil }

func renameFile(from, to string) error { return os.Rename(from, to) }
