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
