// Package ls implements `ifctl ls`: the ifkit sockets in a registry folder
// and their interfaces.
package ls

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
)

// DefaultTimeout bounds asking each socket for its interfaces.
const DefaultTimeout = 2 * time.Second

// Options are the inputs of `ifctl ls`.
type Options struct {
	IO     *cmdutil.IOStreams
	Dir    string
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "ls [DIR | relay://HOST:PORT/]",
		Short: "List the ifkit sockets in a registry folder, or the servers of a relay, with their interfaces",
		Long: `List the Unix sockets in the registry folder DIR (servers started with
'ifctl serve --registry DIR', or iface.WithRegistry, link their sockets there
while they serve) and ask each for its interfaces, as systemd's varlinkctl
list-registry does. A socket that does not answer is listed with the reason.

DIR defaults to $IFKIT_REGISTRY, else $XDG_RUNTIME_DIR/ifkit, else /run/ifkit.
--timeout bounds the question to each socket (they are asked in parallel).

relay://HOST:PORT/ instead of DIR lists the servers registered with that relay
(see ifctl relay) and asks each, through the relay, for its interfaces.`,
		Example: `  ifctl ls /tmp/ifkit-registry
  ifctl ls                                   # $IFKIT_REGISTRY, $XDG_RUNTIME_DIR/ifkit or /run/ifkit
  ifctl ls /tmp/ifkit-registry -o json | jq -r '.[].addr'
  ifctl ls relay://relay.example.com:7500/ --relay-secret-file relay-secret`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = cmdutil.RegistryDir()
			if len(args) > 0 {
				opts.Dir = args[0]
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, DefaultTimeout, "how long to wait for each socket's answer")
	return cmd
}

// iface is one interface of an entry in -o json|yaml.
type iface struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Direction string `json:"direction"`
	Title     string `json:"title,omitempty"`
}

// entry is one socket in -o json|yaml.
type entry struct {
	Name       string  `json:"name"` // the link's name in DIR, or the server's at the relay
	Addr       string  `json:"addr"`
	Interfaces []iface `json:"interfaces"`
	Error      string  `json:"error,omitempty"` // why it did not answer
}

// Run lists the folder and asks each socket, or the relay and each of its
// servers.
func Run(ctx context.Context, opts *Options) error {
	relay, isRelay, err := relayAddr(opts.Dir)
	if err != nil {
		return err
	}
	if isRelay {
		entries, err := relayEntries(ctx, opts, relay)
		if err != nil {
			return err
		}
		return printEntries(opts, entries, "SERVER", "the relay "+opts.Dir+" has no servers registered")
	}
	entries, err := socketEntries(ctx, opts)
	if err != nil {
		return err
	}
	return printEntries(opts, entries, "SOCKET", "no sockets in "+opts.Dir)
}

// socketEntries lists the folder and asks each socket.
func socketEntries(ctx context.Context, opts *Options) ([]*entry, error) {
	des, err := os.ReadDir(opts.Dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, cmdutil.Problem(fmt.Sprintf("no registry folder %s", opts.Dir),
				"start a server with: ifctl serve FILE --listen unix:///PATH.sock --registry "+opts.Dir,
				"or name the folder: ifctl ls DIR")
		}
		return nil, cmdutil.Problem(err.Error())
	}
	entries := []*entry{}
	for _, de := range des {
		p := filepath.Join(opts.Dir, de.Name())
		fi, err := os.Stat(p) // through the link
		e := &entry{Name: de.Name(), Interfaces: []iface{}}
		target := p
		if t, lerr := os.Readlink(p); lerr == nil {
			if !filepath.IsAbs(t) {
				t = filepath.Join(opts.Dir, t)
			}
			target = t
		}
		e.Addr = "unix://" + target
		switch {
		case err != nil:
			e.Error = "the link leads nowhere: its server has gone"
		case fi.Mode()&os.ModeSocket == 0:
			continue // not a socket: not ours
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	askAll(ctx, opts, entries)
	return entries, nil
}

// askAll asks each entry that has no error yet for its interfaces, in
// parallel.
func askAll(ctx context.Context, opts *Options, entries []*entry) {
	var wg sync.WaitGroup
	for _, e := range entries {
		if e.Error != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ask(ctx, opts, e)
		}()
	}
	wg.Wait()
}

// printEntries prints the entries: header names the first column; none says
// there are none.
func printEntries(opts *Options, entries []*entry, header, none string) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSON(opts.IO.Out, entries)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, entries)
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(opts.IO.ErrOut, none)
		return err
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header+"\tADDRESS\tINTERFACES")
	for _, e := range entries {
		what := e.Error
		if what == "" {
			names := make([]string, len(e.Interfaces))
			for i, f := range e.Interfaces {
				names[i] = cmdutil.Untrusted(f.Name) + " " + cmdutil.Untrusted(f.Version)
			}
			what = strings.Join(names, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cmdutil.Untrusted(e.Name), cmdutil.Untrusted(e.Addr), what)
	}
	return tw.Flush()
}

// ask fills in e's interfaces, or why the socket did not answer.
func ask(ctx context.Context, opts *Options, e *entry) {
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	c, err := cmdutil.Dial(ctx, e.Addr, &opts.Conn)
	if err != nil {
		e.Error = firstLine(cmdutil.ErrorText(err))
		return
	}
	defer c.Close()
	ctl, err := c.Control(ctx, "")
	if err != nil {
		e.Error = firstLine(cmdutil.ErrorText(cmdutil.Explain(err, e.Addr)))
		return
	}
	defer ctl.Close()
	infos, err := ctl.List(ctx)
	if err != nil {
		e.Error = firstLine(cmdutil.ErrorText(cmdutil.Explain(err, e.Addr)))
		return
	}
	for _, i := range infos {
		e.Interfaces = append(e.Interfaces, iface{i.Name, i.Version, string(i.Direction), i.Title})
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
