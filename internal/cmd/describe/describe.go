// Package describe implements `ifctl describe`.
package describe

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl describe`.
type Options struct {
	IO     *cmdutil.IOStreams
	Addr   string
	Iface  string // "" for every interface
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "describe ADDR [IFACE]",
		Short: "Describe a served interface from its live manifest",
		Long: `Fetch the manifest of IFACE (or of every interface) from the server at ADDR over
the control sub-interface, and print it:

  -o text   for people: direction, message types with their fields (as JSON
            names them) and replies, examples, flow limits, control
            operations, and ifctl commands to try it (the default)
  -o json   the canonical manifest, exactly as served (its sha256 is the hash);
            one per line without IFACE
  -o yaml   the same as YAML documents

` + cmdutil.AddrHelp,
		Example: `  ifctl describe unix:///tmp/sensors.sock sensors.temperature
  ifctl describe 127.0.0.1:7400 db.kv -o json > db.kv.canonical.json
  ifctl describe 127.0.0.1:7400            # every interface`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
			if len(args) > 1 {
				opts.Iface = args[1]
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long")
	return cmd
}

// Run fetches the manifests and prints them.
func Run(ctx context.Context, opts *Options) error {
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	ctl, err := c.Control(ctx, "")
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	defer ctl.Close()
	names := []string{opts.Iface}
	if opts.Iface == "" {
		infos, err := ctl.List(ctx)
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		names = names[:0]
		for _, i := range infos {
			names = append(names, i.Name)
		}
	}
	for n, name := range names {
		m, err := ctl.Manifest(ctx, name, nil)
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		if err := print(opts, m, n); err != nil {
			return err
		}
	}
	return nil
}

func print(opts *Options, m *manifest.Manifest, n int) error {
	switch opts.Output {
	case cmdutil.JSON:
		_, err := fmt.Fprintf(opts.IO.Out, "%s\n", m.Canonical())
		return err
	case cmdutil.YAML:
		if _, err := fmt.Fprintln(opts.IO.Out, "---"); err != nil {
			return err
		}
		return cmdutil.JSONToYAML(opts.IO.Out, m.Canonical())
	}
	if n > 0 {
		fmt.Fprintf(opts.IO.Out, "\n%s\n\n", "────")
	}
	if err := cmdutil.Describe(opts.IO.Out, m); err != nil {
		return err
	}
	return cmdutil.Usage(opts.IO.Out, m, opts.Addr)
}
