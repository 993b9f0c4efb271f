// Package diff implements `ifctl manifest diff`.
package diff

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl manifest diff`.
type Options struct {
	IO       *cmdutil.IOStreams
	Old, New string // a manifest file or a server's address
	Iface    string // the interface to fetch from an address; "": the name in the other file
	Output   cmdutil.Format
	Conn     cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "List what changed between two manifests, and whom each change breaks",
		Long: `Compare two versions of an interface's manifest and classify every change as
compatible, or breaking for senders or receivers of the messages it concerns:

  breaks senders    a sender built against OLD may be refused by a receiver
                    running NEW: a type, field or codec removed, a schema
                    tightened (a field now required, a value no longer
                    allowed, a lower maximum), credits or max_message_bytes
                    lowered, a direction narrowed
  breaks receivers  a sender running NEW may send what a receiver built
                    against OLD refuses or does not expect: a schema loosened,
                    a new enum value, max_message_bytes raised, messages that
                    may now be dropped
  compatible        a new type, an optional field, raised credits, new
                    descriptions and examples

OLD and NEW are manifest files or the addresses of servers, whose served
manifest of the interface is fetched (--iface names it; by default the name in
the other argument's file). The exit code is 1 when a change is breaking, so
the command can gate CI; 0 when every change is compatible.

` + cmdutil.AddrHelp,
		Example: `  ifctl manifest diff db.kv.yaml db.kv.new.yaml
  ifctl manifest diff unix:///run/kv.sock db.kv.yaml      # what deploying db.kv.yaml would change
  ifctl manifest diff unix:///run/a.sock unix:///run/b.sock --iface db.kv
  ifctl manifest diff old.yaml new.yaml -o json | jq '.changes[] | select(.breaks != [])'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Old, opts.New = args[0], args[1]
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Iface, "iface", "", "the interface to fetch from an address (default: the name in the other file)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up fetching a live manifest after this long")
	return cmd
}

// side is one of the two manifests in -o json|yaml.
type side struct {
	From    string `json:"from"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Hash    string `json:"hash"`
}

// change is one change in -o json|yaml.
type change struct {
	Path   string   `json:"path"`
	What   string   `json:"what"`
	Breaks []string `json:"breaks"` // "senders", "receivers"; empty: compatible
}

type result struct {
	Old      side     `json:"old"`
	New      side     `json:"new"`
	Changes  []change `json:"changes"`
	Breaking int      `json:"breaking"`
}

// Run loads both manifests, prints their differences, and fails when one
// is breaking.
func Run(ctx context.Context, opts *Options) error {
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	oldFile, newFile := isFile(opts.Old), isFile(opts.New)
	var old, new *manifest.Manifest
	var err error
	// Files first: a live side takes its interface's name from the file.
	if oldFile {
		if old, err = loadFile(ctx, opts.Old); err != nil {
			return err
		}
	}
	if newFile {
		if new, err = loadFile(ctx, opts.New); err != nil {
			return err
		}
	}
	name := opts.Iface
	if name == "" {
		switch {
		case old != nil:
			name = old.Name
		case new != nil:
			name = new.Name
		default:
			return cmdutil.UsageError(errors.New("both arguments are addresses: name the interface with --iface NAME"))
		}
	}
	if !oldFile {
		if old, err = cmdutil.FetchManifest(ctx, opts.Old, name, &opts.Conn); err != nil {
			return err
		}
	}
	if !newFile {
		if new, err = cmdutil.FetchManifest(ctx, opts.New, name, &opts.Conn); err != nil {
			return err
		}
	}
	cs := manifest.Diff(old, new)
	res := result{
		Old:      side{opts.Old, old.Name, old.Version, old.Hash()},
		New:      side{opts.New, new.Name, new.Version, new.Hash()},
		Changes:  []change{},
		Breaking: len(cs.Breaking()),
	}
	for _, c := range cs {
		res.Changes = append(res.Changes, change{c.Path, c.What, roles(c.Breaks)})
	}
	switch opts.Output {
	case cmdutil.JSON:
		err = cmdutil.WriteJSON(opts.IO.Out, res)
	case cmdutil.YAML:
		err = cmdutil.WriteYAMLDoc(opts.IO.Out, res)
	default:
		err = writeText(opts, old, new, cs)
	}
	if err != nil {
		return err
	}
	if res.Breaking > 0 {
		return cmdutil.Problem(fmt.Sprintf("%d breaking change%s from %s to %s", res.Breaking, plural(res.Breaking), opts.Old, opts.New),
			"keep the old types and fields alongside the new ones, or give the interface a new name")
	}
	return nil
}

func writeText(opts *Options, old, new *manifest.Manifest, cs manifest.Changes) error {
	w := opts.IO.Out
	head := fmt.Sprintf("%s %s → %s %s", cmdutil.Untrusted(old.Name), cmdutil.Untrusted(old.Version), cmdutil.Untrusted(new.Name), cmdutil.Untrusted(new.Version))
	if old.Name == new.Name {
		head = fmt.Sprintf("%s %s → %s", cmdutil.Untrusted(old.Name), cmdutil.Untrusted(old.Version), cmdutil.Untrusted(new.Version))
	}
	if len(cs) == 0 {
		_, err := fmt.Fprintf(w, "%s: no changes\n", head)
		return err
	}
	fmt.Fprintf(w, "%s: %d change%s, %d breaking\n", head, len(cs), plural(len(cs)), len(cs.Breaking()))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range cs {
		fmt.Fprintf(tw, "  %s\t%s: %s\n", c.Breaks, cmdutil.Untrusted(c.Path), cmdutil.Untrusted(c.What))
	}
	return tw.Flush()
}

func roles(b manifest.Breaks) []string {
	out := []string{}
	if b&manifest.BreaksSenders != 0 {
		out = append(out, "senders")
	}
	if b&manifest.BreaksReceivers != 0 {
		out = append(out, "receivers")
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// isFile tells a manifest file from an address: an existing file, or a
// name ending in .yaml, .yml or .json, is a file.
func isFile(arg string) bool {
	if fi, err := os.Stat(arg); err == nil && fi.Mode().IsRegular() {
		return true
	}
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if strings.HasSuffix(arg, ext) {
			return true
		}
	}
	return false
}

func loadFile(ctx context.Context, path string) (*manifest.Manifest, error) {
	m, err := manifest.LoadContext(ctx, path)
	if err != nil {
		return nil, cmdutil.Problem(err.Error())
	}
	return m, nil
}
