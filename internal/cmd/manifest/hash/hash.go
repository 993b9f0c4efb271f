// Package hash implements `ifctl manifest hash`.
package hash

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl manifest hash`.
type Options struct {
	IO     *cmdutil.IOStreams
	File   string
	Output cmdutil.Format
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "hash FILE",
		Short: "Print a manifest's content hash",
		Long: `Print the content hash of a manifest: sha256 of its canonical form. The YAML and JSON
spellings of one manifest have the same hash, and a server serves it over the control
sub-interface, so a client can tell whether it speaks exactly what it was built against.`,
		Example: `  ifctl manifest hash testdata/manifests/sensors.temperature.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	return cmd
}

// Run loads the manifest and prints its hash.
func Run(ctx context.Context, opts *Options) error {
	m, err := manifest.LoadContext(ctx, opts.File)
	if err != nil {
		fmt.Fprintln(opts.IO.ErrOut, err)
		return cmdutil.Failed()
	}
	out := struct {
		File    string `json:"file"`
		Name    string `json:"name"`
		Version string `json:"version"`
		Hash    string `json:"hash"`
	}{opts.File, m.Name, m.Version, m.Hash()}
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, out)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, out)
	}
	_, err = fmt.Fprintln(opts.IO.Out, m.Hash())
	return err
}
