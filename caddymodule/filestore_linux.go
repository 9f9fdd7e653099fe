package caddymodule

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// tempFile is a temporary file of groupFiles, open for writing: a bare
// descriptor. os.OpenFile would try to add a regular file to the
// runtime's poller (fcntl to set non-blocking, epoll_ctl refused, fcntl
// to clear it again) and register a finalizer: five system calls and an
// allocation per file that a write, an fsync and a close never need.
// Under concurrent job creates (two files a create) they were a sixth of
// the broker's processor time spent in storage.
type tempFile struct {
	fd   int
	name string
}

// createTemp creates the file name, which must not exist (O_EXCL).
func createTemp(name string) (tempFile, error) {
	for {
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return tempFile{}, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return tempFile{fd: fd, name: name}, nil
	}
}

// write writes all of b.
func (f tempFile) write(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(f.fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "write", Path: f.name, Err: err}
		}
		b = b[n:]
	}
	return nil
}

func (f tempFile) sync() error {
	for {
		err := unix.Fsync(f.fd)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "sync", Path: f.name, Err: err}
		}
		return nil
	}
}

// close closes the descriptor (not retried on EINTR: Linux has closed it
// whatever close(2) answers).
func (f tempFile) close() error {
	if err := unix.Close(f.fd); err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// fsSync returns groupFiles' sync under root: an fsync of a lone file
// (unless all), else a sync of the file system holding root (syncfs(2)
// on a descriptor of root, opened at the first such sync and kept). A
// failure to open root (too many open files, under a burst of
// connections) fails that sync alone: the next one opens root again.
// syncfs reports a write-back error of the file system once to a
// descriptor, to the first syncfs on it after the error: groupFiles
// counts failed syncs so that the writers one may have covered fail too.
func fsSync(root string) func([]tempFile, bool) error {
	var (
		mu  sync.Mutex
		dir *os.File
	)
	return func(files []tempFile, all bool) error {
		if len(files) == 1 && !all {
			return files[0].sync()
		}
		mu.Lock()
		if dir == nil {
			err := os.MkdirAll(root, 0o700)
			if err == nil {
				dir, err = os.Open(root)
			}
			if err != nil {
				mu.Unlock()
				return fmt.Errorf("opening the storage directory to sync it: %w", err)
			}
		}
		d := dir
		mu.Unlock()
		if err := unix.Syncfs(int(d.Fd())); err != nil {
			return fmt.Errorf("syncing the storage's file system: %w", err)
		}
		return nil
	}
}

// syncDirectory fsyncs the directory dir: the entries renamed or made in
// it are durable once it returns.
func syncDirectory(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	d := tempFile{fd: fd, name: dir}
	err = d.sync()
	if cerr := d.close(); err == nil {
		err = cerr
	}
	return err
}

// renameFile renames a file with rename(2) alone.
func renameFile(from, to string) error {
	if err := unix.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// fileVersion is a file's version for store.Versioner: its inode, size
// and modification time.
func fileVersion(info fs.FileInfo) store.Version {
	v := store.Version{0, uint64(info.Size()), uint64(info.ModTime().UnixNano())}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		v[0] = st.Ino
	}
	return v
}
