package cmdutil

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ifkit/ifkit/iface"
)

// Exit codes of ifctl. They are documented by `ifctl help exit-codes`
// (ExitCodesHelp); change both together. ExitCode is the one place errors
// are mapped to them.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and failed: an invalid manifest, a refused message
	ExitUsage   = 2 // wrong flags or arguments
	ExitConnect = 3 // the server could not be reached, or is not an ifkit server
	// ExitRemote is added to the code a server answered with (iface.Code):
	// unknown_interface (7) exits 71, invalid_message (4) exits 68.
	ExitRemote = 64
)

// ExitCodesHelp is the text of `ifctl help exit-codes`.
var ExitCodesHelp = exitCodesHelp()

func exitCodesHelp() string {
	var b strings.Builder
	b.WriteString(`ifctl exits with:

  0   success
  1   failure: the command ran but failed on this side: an invalid
      manifest, a message that fails its type's checks (send and call name
      the line and field), the wrong direction (sending to an interface
      that only sends, receiving from one that only receives), a
      --timeout that passed before the work was done, or a breaking
      change found by manifest diff
  2   usage error: an unknown command or flag, a missing argument, an
      address that does not parse, a certificate or secret file that
      cannot be read
  3   could not connect: no socket at the address, permission denied,
      nothing listening, no answer in time, or the peer is not an ifkit
      server (wrong protocol on the port)
  64+N  the server refused or ended what the command asked with code N;
      the common ones are 71 (no such interface), 77 (the shared secret is
      missing or wrong), 68 (the server found a message invalid):
`)
	for c := iface.CodeNormalClose; ; c++ {
		name := c.String()
		if strings.HasPrefix(name, "code(") {
			break
		}
		fmt.Fprintf(&b, "      %-3d %s\n", ExitRemote+int(c), name)
	}
	b.WriteString(`
A connection the server closes normally (normal_close) is not an error:
recv exits 0 when the server ends the stream that way. watch exits 0 when
interrupted or at --timeout, 80 (draining) when the server shut down, 79
(transport_error) when the connection broke.

Errors are printed on stderr; data on stdout.
`)
	return b.String()
}

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

// ExitCode maps an error returned by a command to the process exit code:
// an *ExitError's own code; 3 for errors of iface.Dial (iface.ErrConnect,
// iface.ErrNotIfkit); 64+code for a code the server sent (a remote
// *iface.CloseError or an *iface.RemoteError); 1 for anything else.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, iface.ErrConnect) || errors.Is(err, iface.ErrNotIfkit) {
		return ExitConnect
	}
	var re *iface.RemoteError
	if errors.As(err, &re) {
		return ExitRemote + int(re.Code)
	}
	var ce *iface.CloseError
	if errors.As(err, &ce) && ce.Remote {
		return ExitRemote + int(ce.Code)
	}
	return ExitFailure
}
