// Package validate implements `ifctl manifest validate`.
package validate

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl manifest validate`.
type Options struct {
	IO     *cmdutil.IOStreams
	Files  []string
	Output cmdutil.Format
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check manifests against the format and its semantic rules",
		Long: `Check each manifest file (YAML or JSON) against spec/manifest.schema.json and the
semantic rules of spec/MANIFEST.md: types resolve, .proto files compile, examples match
their types, limits are sane. Every error is reported, on stderr, as file:line:col: message.

Exits 0 when every file is valid, 1 when any is not.`,
		Example: `  ifctl manifest validate testdata/manifests/*.yaml
  ifctl manifest validate -o json sensors.yaml   # one JSON object per file on stdout`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	return cmd
}

// result is one file's outcome in -o json|yaml.
type result struct {
	File    string        `json:"file"`
	Valid   bool          `json:"valid"`
	Name    string        `json:"name,omitempty"`
	Version string        `json:"version,omitempty"`
	Hash    string        `json:"hash,omitempty"`
	Errors  []resultError `json:"errors,omitempty"`
}

type resultError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// Run validates every file, prints the outcome and fails if any is invalid.
func Run(ctx context.Context, opts *Options) error {
	invalid := 0
	for _, file := range opts.Files {
		r := result{File: file}
		m, err := manifest.LoadContext(ctx, file)
		if ctx.Err() != nil {
			// Interrupted (SIGINT, SIGTERM): this file and the rest are unchecked.
			fmt.Fprintf(opts.IO.ErrOut, "%s: not validated: %v\n", file, context.Cause(ctx))
			return cmdutil.Failed()
		}
		if err != nil {
			invalid++
			fmt.Fprintln(opts.IO.ErrOut, err)
			var list manifest.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					r.Errors = append(r.Errors, resultError{e.File, e.Line, e.Col, e.Path, e.Msg})
				}
			}
		} else {
			r.Valid, r.Name, r.Version, r.Hash = true, m.Name, m.Version, m.Hash()
		}
		if err := print(opts, r); err != nil {
			return err
		}
	}
	if invalid > 0 {
		if len(opts.Files) > 1 {
			fmt.Fprintf(opts.IO.ErrOut, "%d of %d manifests are invalid\n", invalid, len(opts.Files))
		}
		return cmdutil.Failed()
	}
	return nil
}

func print(opts *Options, r result) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, r)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, r)
	}
	if r.Valid {
		_, err := fmt.Fprintf(opts.IO.Out, "ok  %s  (%s %s, %s)\n", r.File, r.Name, r.Version, r.Hash)
		return err
	}
	return nil
}
