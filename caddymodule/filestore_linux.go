package caddymodule

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// fsSync returns groupFiles' sync under root: an fsync of a lone file,
// else a sync of the file system holding root (syncfs(2) on a descriptor
// of root, opened at the first such sync and kept).
func fsSync(root string) func([]*os.File) error {
	var (
		once sync.Once
		dir  *os.File
		oerr error
	)
	return func(files []*os.File) error {
		if len(files) == 1 {
			return files[0].Sync()
		}
		once.Do(func() {
			if oerr = os.MkdirAll(root, 0o700); oerr == nil {
				dir, oerr = os.Open(root)
			}
		})
		if oerr != nil {
			return fmt.Errorf("opening the storage directory to sync it: %w", oerr)
		}
		if err := unix.Syncfs(int(dir.Fd())); err != nil {
			return fmt.Errorf("syncing the storage's file system: %w", err)
		}
		return nil
	}
}

// renameFile renames a file with rename(2) alone.
func renameFile(from, to string) error {
	if err := unix.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
