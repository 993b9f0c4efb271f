package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
)

// OperatorFlags are the flags of the commands that act on other clients'
// connections (conns, pause, resume, reset, close, stats --server): the
// server's admin secret, which gives a control stream the operator scope
// (spec/PROTOCOL.md §10.4). A client certificate the server names an
// operator's (serve --operator-cert-name) gives it without a secret.
type OperatorFlags struct {
	SecretFile string
	SecretEnv  string
}

// OperatorHelp is the paragraph the operator commands' help has.
const OperatorHelp = `Acting on connections of other clients needs the operator scope: the server's
admin secret (ifctl serve --admin-secret-file), given here with
--admin-secret-file FILE or --admin-secret-env NAME (never on the command line),
or a client certificate (--tls-cert) the server names an operator's
(ifctl serve --operator-cert-name). Without it the server refuses the list and
the server's counters with auth_failed (exit 77), and finds no other client's
connection (not_found, exit 76); either way it says why.`

// AddOperatorFlags adds --admin-secret-file and --admin-secret-env to cmd.
func AddOperatorFlags(cmd *cobra.Command, f *OperatorFlags) {
	fs := cmd.Flags()
	fs.StringVar(&f.SecretFile, "admin-secret-file", "", "file holding the server's admin secret (the operator scope)")
	fs.StringVar(&f.SecretEnv, "admin-secret-env", "", "environment variable holding the server's admin secret")
	_ = cmd.MarkFlagFilename("admin-secret-file")
}

// OperatorControl opens a control stream for ifaceName ("" for the server
// as a whole) and, when the flags give an admin secret, proves it, so the
// stream has the operator scope. Without a secret the stream is plain (an
// operator's certificate may still give it the scope); the server's
// refusals then say what is missing.
func OperatorControl(ctx context.Context, c *iface.Client, addr, ifaceName string, f *OperatorFlags, timeout time.Duration) (*iface.Control, error) {
	secret, err := ReadSecret(f.SecretFile, f.SecretEnv, "admin-secret")
	if err != nil {
		return nil, err
	}
	cctx, cancel := WithTimeout(ctx, timeout)
	defer cancel()
	ctl, err := c.Control(cctx, ifaceName)
	if err != nil {
		return nil, Explain(err, addr)
	}
	if secret == nil {
		return ctl, nil
	}
	if err := ctl.Operator(cctx, secret); err != nil {
		ctl.Close()
		return nil, ExplainOperator(err, addr)
	}
	return ctl, nil
}

// ExplainOperator is Explain for the operator commands: an auth_failed
// answer is about the admin secret, not the shared one.
func ExplainOperator(err error, addr string) error {
	if iface.CodeOf(err) != iface.CodeAuthFailed {
		return Explain(err, addr)
	}
	var re *iface.RemoteError
	msg := "the server refused: " + iface.CodeAuthFailed.String()
	if errors.As(err, &re) && re.Reason != "" {
		msg += ": " + Untrusted(re.Reason)
	}
	return Reword(err, msg, "pass the server's admin secret with --admin-secret-file FILE or --admin-secret-env NAME, or connect with an operator's certificate (--tls-cert)")
}

// ParseConnIDs parses connection ids given as arguments.
func ParseConnIDs(args []string) ([]uint64, error) {
	ids := make([]uint64, 0, len(args))
	for _, a := range args {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil || id == 0 {
			return nil, UsageError(fmt.Errorf("connection id %q: want a number > 0, as ifctl conns lists them", a))
		}
		ids = append(ids, id)
	}
	return ids, nil
}
