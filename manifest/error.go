package manifest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in a manifest, or in a file it refers to, at a
// position a person can jump to.
type Error struct {
	File string // the file as it was named when loaded
	Line int    // 1-based; 0 when the position is unknown
	Col  int    // 1-based; 0 when the position is unknown
	Path string // the field, dotted (flow.credits, messages.send.Reading.proto); empty for the whole file
	Msg  string // what is wrong and, where it helps, what would be right
	Err  error  // the cause, if any: ErrOutsideFolder, ErrNotRegular, ErrTooLarge, a file system or compiler error
}

// Why a file the manifest names, or part of one, was refused. Match them with
// errors.Is on the error Load or Parse returns.
var (
	// ErrOutsideFolder: the name, or a symbolic link on the way to the file,
	// leads outside the manifest's folder (spec/MANIFEST.md §5).
	ErrOutsideFolder = errors.New("outside the manifest's folder")
	// ErrNotRegular: the name is a folder, a named pipe, a device or a
	// socket, not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: a file, the files of a load together, a line of a .proto
	// file, a schema, the schemas' patterns or the canonical form are over
	// their limit (limits.go).
	ErrTooLarge = errors.New("over a size limit")
)

// Error formats e as file:line:col: path: message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem found in one load, ordered by file and position.
// Load and Parse return it (as an error) when a manifest is not valid.
type ErrorList []*Error

// Error returns the errors one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As access to every error in the list.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}
