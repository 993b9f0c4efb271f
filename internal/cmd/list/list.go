// Package list implements `ifctl list`.
package list

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Options are the inputs of `ifctl list`.
type Options struct {
	IO     *cmdutil.IOStreams
	Addr   string
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "list ADDR",
		Short: "List the interfaces a server hosts, or the servers a relay relays to",
		Long: `List the interfaces served at ADDR, from its control sub-interface: name,
version, direction (from the server's side), manifest hash and title.

The direction is the server's: send (it streams to clients), recv (clients
send to it) or duplex.

ADDR relay://HOST:PORT/ (a relay itself, no server name) lists the names of the
servers registered with the relay, and the address each is reached at; ifctl ls
relay://HOST:PORT/ lists their interfaces too.

` + cmdutil.AddrHelp,
		Example: `  ifctl list unix:///tmp/sensors.sock
  ifctl list 127.0.0.1:7400 -o json | jq -r '.[].name'
  ifctl list relay://relay.example.com:7500/ --relay-secret-file relay-secret`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
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

// entry is one interface in -o json|yaml.
type entry struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Direction string `json:"direction"`
	Hash      string `json:"hash"`
	Title     string `json:"title,omitempty"`
}

// Run lists the interfaces and prints them.
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
	if isRelay(c.Addr()) {
		return listRelay(ctx, opts, ctl, c.Addr())
	}
	infos, err := ctl.List(ctx)
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	list := make([]entry, 0, len(infos))
	for _, i := range infos {
		list = append(list, entry{i.Name, i.Version, string(i.Direction), i.ManifestHash, i.Title})
	}
	return printList(opts, list, len(list), opts.Addr+" serves no interfaces", []string{"NAME", "VERSION", "DIRECTION", "TITLE"}, func(i int) []string {
		e := list[i]
		return []string{e.Name, e.Version, e.Direction, e.Title}
	})
}

// printList prints v, a list of n entries, as -o asks: for -o text a table
// with header whose rows are row(i), each cell peer text made inert, or
// none on stderr when there are none.
func printList(opts *Options, v any, n int, none string, header []string, row func(i int) []string) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSON(opts.IO.Out, v)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, v)
	}
	if n == 0 {
		fmt.Fprintln(opts.IO.ErrOut, none)
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range n {
		cells := row(i)
		for j, c := range cells {
			cells[j] = cmdutil.Untrusted(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
