// Package cmdutil holds what every ifctl command shares: the process's
// streams, output formats and the exit-code mapping.
package cmdutil

import (
	"io"
	"os"
)

// IOStreams are the streams a command reads and writes. Data goes to Out,
// diagnostics to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// System returns the process's standard streams.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}

// IsTerminal reports whether w is a terminal (a character device), where
// progress may be shown; never on a pipe or a file.
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
