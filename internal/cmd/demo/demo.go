// Package demo implements `ifctl demo`, the README's run command: a tour of
// ifkit on its embedded example interfaces, needing no external service.
package demo

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
	"github.com/ifkit/ifkit/testdata/manifests"
)

// Options are the inputs of `ifctl demo`.
type Options struct {
	IO *cmdutil.IOStreams
	// Examples holds the example manifests; the embedded testdata by default.
	Examples fs.FS
	// Show is the example described in full.
	Show string
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(*Options) error) *cobra.Command {
	opts := &Options{IO: io, Examples: manifests.FS, Show: "sensors.temperature.yaml"}
	return &cobra.Command{
		Use:   "demo",
		Short: "A tour of ifkit on its built-in example interfaces",
		Long: `Load the built-in example manifests (a sensor stream, a log sink, a key-value store,
a job queue, a pub/sub topic, an HTTP-style API), check them, print their content
hashes, describe one in full, and show how an invalid manifest is reported.`,
		Example: `  go run ./cmd/ifctl demo`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if run != nil {
				return run(opts)
			}
			return Run(opts)
		},
	}
}

// Run prints the tour. It fails if any built-in example does not load.
func Run(opts *Options) error {
	out := opts.IO.Out
	names, err := exampleFiles(opts.Examples)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ifkit demo: %d example interfaces, each described by a manifest.\n\n", len(names))
	fmt.Fprintln(out, "1. Load and check every manifest (schema, .proto compilation, examples):")
	loaded := map[string]*manifest.Manifest{}
	for _, name := range names {
		data, err := fs.ReadFile(opts.Examples, name)
		if err != nil {
			return err
		}
		m, err := manifest.Parse(name, data, manifest.WithFS(opts.Examples))
		if err != nil {
			return fmt.Errorf("built-in example %s does not load:\n%w", name, err)
		}
		loaded[name] = m
		fmt.Fprintf(out, "   ok  %-28s %-22s %-7s %s…\n", name, m.Name, m.Direction, m.Hash()[:19])
	}
	if m, ok := loaded[opts.Show]; ok {
		fmt.Fprintf(out, "\n2. What a client learns from %s (ifctl manifest show -o text):\n\n", opts.Show)
		var desc strings.Builder
		if err := cmdutil.Describe(&desc, m); err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSuffix(desc.String(), "\n"), "\n") {
			fmt.Fprintf(out, "   %s\n", line)
		}
	}
	fmt.Fprintln(out, "\n3. A manifest with mistakes: every error, with its position:")
	_, err = manifest.Parse("broken.yaml", []byte(broken))
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(out, "   %s\n", line)
	}
	fmt.Fprintln(out, "\nNext: ifctl manifest validate|show|hash FILE — see README.md.")
	return nil
}

const broken = `ifkit: 1
name: Sensors
version: "1.4"
direction: sned
messages:
  send:
    Reading: {schema: {type: object, properties: {celsius: {type: number}}}, examples: [{celsius: warm}]}
flow: {credits: 0}
`

func exampleFiles(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		switch path.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
