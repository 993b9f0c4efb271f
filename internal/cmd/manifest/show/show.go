// Package show implements `ifctl manifest show`.
package show

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl manifest show`.
type Options struct {
	IO     *cmdutil.IOStreams
	File   string
	Output cmdutil.Format
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Print a manifest's canonical form, or a readable description",
		Long: `Print the canonical form of a manifest: the self-contained document a server serves,
with defaults filled in and protobuf descriptors and JSON Schemas embedded.

  -o json   the canonical bytes exactly (their sha256 is the manifest hash)
  -o yaml   the same document as YAML
  -o text   a description for people: direction, types and their fields, flow, control`,
		Example: `  ifctl manifest show testdata/manifests/db.kv.yaml -o text
  ifctl manifest show sensors.yaml -o json | sha256sum`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.JSON)
	return cmd
}

// Run loads the manifest and prints it in the chosen format.
func Run(ctx context.Context, opts *Options) error {
	m, err := manifest.LoadContext(ctx, opts.File)
	if err != nil {
		fmt.Fprintln(opts.IO.ErrOut, err)
		return cmdutil.Failed()
	}
	switch opts.Output {
	case cmdutil.YAML:
		return cmdutil.JSONToYAML(opts.IO.Out, m.Canonical())
	case cmdutil.Text:
		return cmdutil.Describe(opts.IO.Out, m)
	}
	_, err = fmt.Fprintf(opts.IO.Out, "%s\n", m.Canonical())
	return err
}
