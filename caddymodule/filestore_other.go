//go:build !linux

package caddymodule

import "os"

// fsSync is not available here: Stores are certmagic's own, and
// tempFile only keeps the package building.
func fsSync(string) func([]tempFile, bool) error { return nil }

func renameFile(from, to string) error { return os.Rename(from, to) }

type tempFile struct {
	f    *os.File
	name string
}

func createTemp(name string) (tempFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	return tempFile{f: f, name: name}, err
}

func (f tempFile) write(b []byte) error {
	_, err := f.f.Write(b)
	return err
}

func (f tempFile) sync() error  { return f.f.Sync() }
func (f tempFile) close() error { return f.f.Close() }
