// Package golang implements `ifctl gen go`: typed Go client and server
// stubs from manifests.
package golang

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/internal/gogen"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl gen go`.
type Options struct {
	IO     *cmdutil.IOStreams
	Files  []string
	Out    string // the folder the packages go in
	Import string // the Go import path of Out
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "go MANIFEST... [--out DIR] [--import PATH]",
		Short: "Write typed Go client and server stubs for interfaces",
		Long: `Write one Go package per manifest into DIR/<name> (db.kv → DIR/dbkv):

  - the protobuf types its messages use, as protoc-gen-go writes them (no
    protoc needed), and Go structs for types a JSON Schema defines
    (required fields as values, optional ones as pointers);
  - Client, from Connect(ctx, *iface.Client): one method per type clients
    send (a request returns its reply, a stream of replies is an iterator,
    a one-way type is SendT), and Messages, an iterator of what the server
    sends of its own accord, decoded;
  - Server, an interface with one method per type clients send, and
    Interface(impl), the iface.Interface that serves it;
  - ifkit_test.go, which sends every example of every type through Client
    and Server and checks it arrives as sent.

The code is gofmt-clean and builds against github.com/ifkit/ifkit. Connect
requires the server to serve exactly the manifest the code was made from.
--import is DIR's Go import path (by default the module path of the go.mod
above DIR plus the folder, else DIR's name).`,
		Example: `  ifctl gen go testdata/manifests/db.kv.yaml --out ./gen
  ifctl gen go testdata/manifests/*.yaml --out ./internal/ifaces --import example.com/app/internal/ifaces
  go test ./gen/...`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", ".", "the folder the packages are written in")
	cmd.Flags().StringVar(&opts.Import, "import", "", "the Go import path of --out (default: from the go.mod above it)")
	_ = cmd.MarkFlagDirname("out")
	return cmd
}

// Run loads the manifests and writes their packages.
func Run(ctx context.Context, opts *Options) error {
	var ms []*manifest.Manifest
	seen := map[string]string{}
	for _, f := range opts.Files {
		m, err := manifest.LoadContext(ctx, f)
		if err != nil {
			return cmdutil.Problem(err.Error())
		}
		pkg := gogen.PackageName(m.Name)
		if other, ok := seen[pkg]; ok {
			return cmdutil.Problem(fmt.Sprintf("%s and %s would both be package %s", other, f, pkg))
		}
		seen[pkg] = f
		ms = append(ms, m)
	}
	imp := opts.Import
	if imp == "" {
		imp = importPath(opts.Out)
	}
	for _, m := range ms {
		p, err := gogen.Generate(m, path.Join(imp, gogen.PackageName(m.Name)))
		if err != nil {
			return cmdutil.Problem(err.Error())
		}
		dir := filepath.Join(opts.Out, p.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return cmdutil.Problem(err.Error())
		}
		for _, f := range p.Files {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, 0o644); err != nil {
				return cmdutil.Problem(err.Error())
			}
		}
		fmt.Fprintf(opts.IO.ErrOut, "wrote %s (%s %s): %d files\n", dir, m.Name, m.Version, len(p.Files))
	}
	return nil
}

// importPath guesses the import path of dir from the go.mod above it.
func importPath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Base(dir)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if mod, err := modulePath(filepath.Join(d, "go.mod")); err == nil {
			rel, _ := filepath.Rel(d, abs)
			return path.Join(mod, filepath.ToSlash(rel))
		}
		if filepath.Dir(d) == d {
			return filepath.Base(abs)
		}
	}
}

// modulePath reads the module line of a go.mod file.
func modulePath(gomod string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		var mod string
		if _, err := fmt.Sscanf(line, "module %s", &mod); err == nil {
			return mod, nil
		}
	}
	return "", errors.New("no module line")
}
