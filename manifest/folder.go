package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
)

// folder reads the files a manifest names, for one load: only regular files,
// only inside the manifest's folder, and within the limits of limits.go. The
// protobuf compiler reads from several goroutines at once: mu makes each read
// one step, so the limits hold.
type folder struct {
	mu      sync.Mutex
	ctx     context.Context
	dir     string   // WithDir: the folder as given
	root    *os.Root // dir, opened at the first read: nothing outside it can be opened through it
	rootErr error    // why dir could not be opened
	fsys    fs.FS    // WithFS
	loaded  int64    // bytes read by this load, the manifest included (MaxLoadBytes)
	sources int64    // bytes of .proto and schema files read by this load (MaxSourceBytes)
}

// fileError is why a file was refused: the file's name, a sentence for a
// person and, when there is one, the cause to match with errors.Is.
type fileError struct {
	name string
	why  string
	err  error
}

func (e *fileError) Error() string { return e.name + ": " + e.why }
func (e *fileError) Unwrap() error { return e.err }

// close releases the folder; reads after it fail.
func (f *folder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.root != nil {
		f.root.Close()
	}
}

// read reads the file name (slash-separated, relative to the folder) whole.
// source marks a .proto or schema file, which counts against MaxSourceBytes.
func (f *folder) read(name string, source bool) ([]byte, *fileError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.ctx.Err(); err != nil {
		return nil, &fileError{name, "not read: " + err.Error(), err}
	}
	if !fs.ValidPath(name) {
		return nil, &fileError{name, "must be a relative path inside the manifest's folder, without .. or a leading /", ErrOutsideFolder}
	}
	file, err := f.open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	limit, what := f.limit(source)
	data, err := readRegular(file, name, limit, what)
	if err != nil {
		return nil, err
	}
	f.loaded += int64(len(data))
	if source {
		f.sources += int64(len(data))
	}
	return data, nil
}

// limit is how many bytes the next file may have, and the limit that sets it
// in words.
func (f *folder) limit(source bool) (int64, string) {
	limit, what := int64(MaxFileBytes), "the "+sizeText(MaxFileBytes)+" a file may have"
	if left := MaxLoadBytes - f.loaded; left < limit {
		limit, what = left, fmt.Sprintf("the %s the files of one load may have together (%d are read already)", sizeText(MaxLoadBytes), f.loaded)
	}
	if left := MaxSourceBytes - f.sources; source && left < limit {
		limit, what = left, "the "+sizeText(MaxSourceBytes)+" the .proto and schema files of one load may have together"
		if f.sources > 0 {
			what += fmt.Sprintf(" (%d are read already)", f.sources)
		}
		what += "; a descriptor set (descriptor_sets) is not compiled and may be larger"
	}
	return max(limit, 0), what
}

// open opens name, refusing before it opens anything that is not a regular
// file (opening a named pipe would wait for a writer) or that leads outside
// the folder.
func (f *folder) open(name string) (fs.File, *fileError) {
	if f.fsys != nil {
		// WithFS: fsys decides what is inside. An fs.StatFS lets a named pipe
		// be refused before it is opened.
		if sfs, ok := f.fsys.(fs.StatFS); ok {
			info, err := sfs.Stat(name)
			if err != nil {
				return nil, pathError(name, err)
			}
			if !info.Mode().IsRegular() {
				return nil, notRegular(name, info.Mode())
			}
		}
		file, err := f.fsys.Open(name)
		if err != nil {
			return nil, pathError(name, err)
		}
		return file, nil
	}
	if f.root == nil && f.rootErr == nil {
		f.root, f.rootErr = os.OpenRoot(f.dir)
	}
	if f.rootErr != nil {
		return nil, &fileError{name, "cannot open the manifest's folder: " + pathError(f.dir, f.rootErr).why, f.rootErr}
	}
	info, err := f.root.Stat(name)
	if err != nil {
		return nil, f.explain(name, err)
	}
	if !info.Mode().IsRegular() {
		return nil, notRegular(name, info.Mode())
	}
	// O_NONBLOCK: should a named pipe replace the file after the Stat, the
	// open does not wait for a writer; readRegular then refuses it.
	file, err := f.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, f.explain(name, err)
	}
	return file, nil
}

// explain turns the error of opening name in the root into a fileError,
// naming the symbolic link that leads out of the folder if that was why.
func (f *folder) explain(name string, err error) *fileError {
	if link, target, ok := f.escapingLink(name); ok {
		why := "it is a symbolic link to " + target
		if link != name {
			why = link + ", on the way to it, is a symbolic link to " + target
		}
		return &fileError{name, why + ", which leads outside the manifest's folder; a manifest reads only files inside its folder " +
			"(a link must be relative and stay inside): copy the file in instead", ErrOutsideFolder}
	}
	return pathError(name, err)
}

// escapingLink finds the first symbolic link on the way to name that does
// not resolve inside the root, and its target.
func (f *folder) escapingLink(name string) (link, target string, ok bool) {
	parts := strings.Split(name, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		info, err := f.root.Lstat(p)
		if err != nil {
			return "", "", false
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		_, err = f.root.Stat(p)
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
			continue // it resolves inside, dangles or loops: not an escape
		}
		target, err = f.root.Readlink(p)
		if err != nil {
			target = "a path it cannot read"
		}
		return p, target, true
	}
	return "", "", false
}

// readRegular reads an open file whole, if it is a regular file of at most
// limit bytes; what names the limit in the error. It checks before it reads,
// and again while reading, should the file grow.
func readRegular(file fs.File, name string, limit int64, what string) ([]byte, *fileError) {
	info, err := file.Stat()
	if err != nil {
		return nil, pathError(name, err)
	}
	if !info.Mode().IsRegular() {
		return nil, notRegular(name, info.Mode())
	}
	if info.Size() > limit {
		return nil, &fileError{name, fmt.Sprintf("it is %d bytes, over %s", info.Size(), what), ErrTooLarge}
	}
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, pathError(name, err)
	}
	if int64(len(data)) > limit {
		return nil, &fileError{name, "it has more bytes than " + what, ErrTooLarge}
	}
	return data, nil
}

// notRegular says what name is instead of a regular file.
func notRegular(name string, mode fs.FileMode) *fileError {
	kind := "not a regular file"
	switch {
	case mode.IsDir():
		kind = "a folder"
	case mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		kind = "a socket"
	case mode&fs.ModeDevice != 0:
		kind = "a device"
	}
	return &fileError{name, "it is " + kind + ", not a regular file; name a file", ErrNotRegular}
}

// pathError drops the operation and path from an fs error: "open x: file
// does not exist" reads better as "x: file does not exist".
func pathError(name string, err error) *fileError {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fileError{name, pe.Err.Error(), err}
	}
	return &fileError{name, err.Error(), err}
}
