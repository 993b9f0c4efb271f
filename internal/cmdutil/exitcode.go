package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes of ifctl. They are documented by `ifctl help exit-codes`
// (ExitCodesHelp); change both together.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and failed: an invalid manifest, a refused message
	ExitUsage   = 2 // wrong flags or arguments
)

// ExitCodesHelp is the text of `ifctl help exit-codes`.
const ExitCodesHelp = `ifctl exits with:

  0   success
  1   failure: the command ran but what it checked or sent was refused
      (an invalid manifest, a message that fails its schema)
  2   usage error: an unknown command or flag, a missing argument

Errors are printed on stderr; data on stdout.
`

// ExitError carries the exit code a command failed with.
type ExitError struct {
	Code int
	Err  error // may be nil when the command already printed what went wrong
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Failed returns an error that makes ifctl exit with ExitFailure without
// printing anything more: the command has reported the details itself.
func Failed() error { return &ExitError{Code: ExitFailure} }

// UsageError wraps err as a usage error (exit code 2).
func UsageError(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}
