//go:build !linux

package caddymodule

import (
	"io/fs"
	"os"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// fsSync is not available here: Stores are certmagic's own, and
// tempFile only keeps the package building.
func fsSync(string) func([]tempFile, bool) error { return nil }

func renameFile(from, to string) error { return os.Rename(from, to) }

func syncDirectory(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

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

// fileVersion is a file's version for store.Versioner: its size and
// modification time.
func fileVersion(info fs.FileInfo) store.Version {
	return store.Version{1, uint64(info.Size()), uint64(info.ModTime().UnixNano())}
}
