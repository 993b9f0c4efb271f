// Package root assembles the ifctl command tree and runs it.
package root

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmd/demo"
	"github.com/ifkit/ifkit/internal/cmd/manifest/hash"
	"github.com/ifkit/ifkit/internal/cmd/manifest/show"
	"github.com/ifkit/ifkit/internal/cmd/manifest/validate"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// New returns the ifctl root command writing to io.
func New(io *cmdutil.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "ifctl",
		Short: "Check, serve, introspect and talk to ifkit interfaces",
		Long: `ifctl works with ifkit interfaces: self-describing message streams on Unix and TCP
sockets. It validates manifests and shows their canonical form and hash.

Data goes to stdout, diagnostics to stderr. See 'ifctl help exit-codes'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.UsageError(err) })

	mf := &cobra.Command{
		Use:   "manifest",
		Short: "Validate manifests, show their canonical form and hash",
	}
	mf.AddCommand(validate.NewCmd(io, nil), show.NewCmd(io, nil), hash.NewCmd(io, nil))
	root.AddCommand(mf, demo.NewCmd(io, nil))
	// A command without Run is a help topic: `ifctl help exit-codes`.
	root.AddCommand(&cobra.Command{Use: "exit-codes", Short: "What ifctl's exit codes mean", Long: cmdutil.ExitCodesHelp})
	return root
}

// Execute runs ifctl with args and returns the process exit code. Errors are
// printed on io.ErrOut.
func Execute(io *cmdutil.IOStreams, args []string) int {
	cmd := New(io)
	cmd.SetArgs(args)
	// Cobra does not type its own errors (unknown command, wrong number of
	// arguments); they all happen before a command runs, so whether the
	// command started tells a usage error from a failure.
	started := false
	cmd.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	err := cmd.Execute()
	if err == nil {
		return cmdutil.ExitOK
	}
	if !started {
		err = cmdutil.UsageError(err)
	}
	var ee *cmdutil.ExitError
	switch {
	case errors.As(err, &ee) && ee.Err == nil:
		// the command reported the details itself
	case cmdutil.ExitCode(err) == cmdutil.ExitUsage:
		fmt.Fprintf(io.ErrOut, "ifctl: %v\nRun 'ifctl --help' for usage.\n", err)
	default:
		fmt.Fprintf(io.ErrOut, "ifctl: %v\n", err)
	}
	return cmdutil.ExitCode(err)
}
