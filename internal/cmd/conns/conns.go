// Package conns implements `ifctl conns`: an operator's list of a server's
// live connections, of every client.
package conns

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Options are the inputs of `ifctl conns`.
type Options struct {
	IO     *cmdutil.IOStreams
	Addr   string
	Iface  string // "" for every interface
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
	Admin  cmdutil.OperatorFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "conns ADDR [IFACE]",
		Short: "List a server's live connections, of every client (operator)",
		Long: `List the live connections of the server at ADDR, of every client, or only those
on the interface IFACE: the connection id (what ifctl pause, resume, reset, close
and stats take), its interface, the name the client gave, the peer's credentials
(a Unix peer's uid, gid and pid from the kernel; a TCP peer's address; the
subject of a verified client certificate; "secret" when the session proved the
shared secret), the credits each side holds, its age and the messages each way.

-o json prints one array of objects (connection_id, interface, client, codec,
remote, peer {uid, gid, pid}, tls_name, authenticated, stats {the fields of
ifctl stats -o json}); -o yaml the same as YAML.

` + cmdutil.OperatorHelp + `

` + cmdutil.AddrHelp,
		Example: `  ifctl conns unix:///tmp/kv.sock --admin-secret-file /etc/ifkit/admin
  ifctl conns 127.0.0.1:7400 db.kv --admin-secret-env IFKIT_ADMIN_SECRET -o json

  # the ids of db.kv's connections that a client named "loader" opened
  ifctl conns unix:///tmp/kv.sock db.kv --admin-secret-file admin.txt -o json |
      jq -r '.[] | select(.client == "loader") | .connection_id'`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
			if len(args) == 2 {
				opts.Iface = args[1]
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long (0: never)")
	cmdutil.AddOperatorFlags(cmd, &opts.Admin)
	return cmd
}

// Run lists the connections and prints them.
func Run(ctx context.Context, opts *Options) error {
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	ctl, err := cmdutil.OperatorControl(ctx, c, opts.Addr, "", &opts.Admin, 0)
	if err != nil {
		return err
	}
	defer ctl.Close()
	if opts.Iface != "" {
		if _, err := ctl.Manifest(ctx, opts.Iface, nil); err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
	}
	list, err := ctl.Connections(ctx, opts.Iface)
	if err != nil {
		return cmdutil.ExplainOperator(err, opts.Addr)
	}
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSON(opts.IO.Out, toJSON(list))
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, toJSON(list))
	}
	if len(list) == 0 {
		where := opts.Addr
		if opts.Iface != "" {
			where = opts.Iface + " at " + opts.Addr
		}
		fmt.Fprintf(opts.IO.ErrOut, "no open connections on %s\n", cmdutil.Untrusted(where))
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tINTERFACE\tCLIENT\tPEER\tCREDITS S/C\tAGE\tSENT\tRECEIVED\tPAUSED\n")
	for _, cn := range list {
		st := cn.Stats
		paused := "no"
		if st.Paused {
			paused = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%d\t%d\t%s\n", st.ConnectionID, cmdutil.Untrusted(st.Interface),
			cmdutil.Untrusted(orDash(cn.Client)), cmdutil.Untrusted(peerText(cn)), st.CreditsHeld, st.CreditsGranted,
			st.Uptime.Round(time.Second), st.SentMessages, st.ReceivedMessages, paused)
	}
	return tw.Flush()
}

// peerText is what the server knows of a connection's peer, briefly.
func peerText(c iface.Connection) string {
	s := ""
	if p := c.Peer; p != nil {
		s = fmt.Sprintf("uid=%d gid=%d pid=%d", p.UID, p.GID, p.PID)
	} else if c.Remote != "" && c.Remote != "@" {
		s = c.Remote
	}
	if c.TLSName != "" {
		s = join(s, "cert="+c.TLSName)
	}
	if c.Authenticated {
		s = join(s, "secret")
	}
	return orDash(s)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// connJSON is one connection as -o json prints it.
type connJSON struct {
	ConnectionID  uint64            `json:"connection_id"`
	Interface     string            `json:"interface"`
	Client        string            `json:"client"`
	Codec         string            `json:"codec"`
	Remote        string            `json:"remote,omitempty"`
	Peer          *peerJSON         `json:"peer,omitempty"`
	TLSName       string            `json:"tls_name,omitempty"`
	Authenticated bool              `json:"authenticated"`
	Stats         cmdutil.StatsJSON `json:"stats"`
}

type peerJSON struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	PID int32  `json:"pid"`
}

func toJSON(list []iface.Connection) []connJSON {
	out := make([]connJSON, 0, len(list))
	for _, c := range list {
		j := connJSON{
			ConnectionID: c.Stats.ConnectionID, Interface: c.Stats.Interface, Client: c.Client, Codec: c.Codec,
			Remote: c.Remote, TLSName: c.TLSName, Authenticated: c.Authenticated, Stats: cmdutil.StatsToJSON(c.Stats),
		}
		if p := c.Peer; p != nil {
			j.Peer = &peerJSON{p.UID, p.GID, p.PID}
		}
		out = append(out, j)
	}
	return out
}
