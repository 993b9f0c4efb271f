// Package watch implements `ifctl watch`: print a server's notifications
// and the lifecycle of its connections as they happen.
package watch

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Options are the inputs of `ifctl watch`.
type Options struct {
	IO     *cmdutil.IOStreams
	Addr   string
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
	// Monitors are the --monitor targets: conn:ID, iface:NAME or server.
	Monitors []string
	// now stamps events (tests may fix it).
	now func() time.Time
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io, now: time.Now}
	cmd := &cobra.Command{
		Use:   "watch ADDR",
		Short: "Print a server's events as they happen: connections opening, ending and why, draining",
		Long: `Open a control stream to the server at ADDR and print each event it announces, one
per line, until Ctrl-C or --timeout (both exit 0):

  connected             ifctl is watching; the interfaces served
  connection_opened     a connection was accepted: its id, interface, codec, client name
  connection_closed     a connection ended: its id, interface, code and reason
  interfaces_changed    interfaces were added or removed
  manifest_changed      an interface's manifest changed (new hash)
  draining              the server is shutting down (and by when)
  monitor_down          a --monitor target went: why (its code and reason), once;
                        noproc when it was already gone when watch asked
  monitor_lost          the control stream ended before the server reported a
                        --monitor target down: its state is unknown (not a death)
  server_learned        (a relay) a server registered: clients reach it by its name
  server_forgotten      (a relay) a server left
  disconnected          the server ended the control stream

--monitor (repeatable) watches one target until it goes: conn:ID (a connection
of any client, by the id connection_opened shows), iface:NAME (the interface is
unregistered, or the server closes) or server (the server closes). With
--monitor, watch exits 0 once every monitor has fired.

When the server goes away, watch prints "disconnected" and exits 80 (64 +
draining) after a shutdown it announced, or 79 (64 + transport_error) otherwise.
-o json prints NDJSON events.

` + cmdutil.AddrHelp,
		Example: `  ifctl watch unix:///tmp/ifkit.sock
  ifctl watch 127.0.0.1:7400 -o json --timeout 1m | jq 'select(.event=="connection_closed")'
  ifctl watch 127.0.0.1:7400 --monitor conn:29600322334721 --monitor iface:kv
  ifctl watch unix:///tmp/ifkit.sock --monitor server     # returns when the server goes`,
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
	cmd.Flags().StringArrayVar(&opts.Monitors, "monitor", nil, "monitor `TARGET` until it goes: conn:ID, iface:NAME or server (repeatable)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, 0, "stop after this long (0: never; connecting gives up after 10s)")
	return cmd
}

// Event is one line of watch's output.
type Event struct {
	Time         time.Time `json:"time"`
	Event        string    `json:"event"`
	Addr         string    `json:"addr,omitempty"`
	Interfaces   []string  `json:"interfaces,omitempty"`
	Removed      []string  `json:"removed,omitempty"`
	Interface    string    `json:"interface,omitempty"`
	Hash         string    `json:"hash,omitempty"`
	Codec        string    `json:"codec,omitempty"`
	Client       string    `json:"client,omitempty"`
	ConnectionID uint64    `json:"connection_id,omitempty"`
	Code         string    `json:"code,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	Deadline     time.Time `json:"deadline,omitzero"`
	Lost         uint64    `json:"lost,omitempty"`    // notifications_lost: how many were dropped
	Servers      []string  `json:"servers,omitempty"` // connected to a relay: the servers it relays to
	Target       string    `json:"target,omitempty"`  // monitor_*: the --monitor target
	NoProc       bool      `json:"noproc,omitempty"`  // monitor_down: gone before watch asked
}

// parseTarget reads a --monitor value.
func parseTarget(s string) (control.MonitorTarget, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "conn":
		id, err := strconv.ParseUint(arg, 10, 64)
		if err == nil && id > 0 {
			return control.MonitorTarget{ConnectionID: id}, nil
		}
	case "iface":
		if arg != "" {
			return control.MonitorTarget{Interface: arg}, nil
		}
	case "server":
		if arg == "" {
			return control.MonitorTarget{Server: true}, nil
		}
	}
	return control.MonitorTarget{}, cmdutil.UsageError(fmt.Errorf("--monitor %q: want conn:ID (a connection id), iface:NAME or server", s))
}

// monitorEvent turns a fired monitor into an Event.
func monitorEvent(spec string, d control.Down) Event {
	e := Event{Event: "monitor_down", Target: spec, Code: d.Code.String(), Reason: d.Reason, NoProc: d.NoProc}
	if d.Lost {
		e.Event = "monitor_lost"
	}
	return e
}

// Run watches until interrupted, the timeout, or the server going away.
func Run(ctx context.Context, opts *Options) error {
	if opts.now == nil {
		opts.now = time.Now
	}
	targets := make([]control.MonitorTarget, len(opts.Monitors))
	for i, spec := range opts.Monitors {
		t, err := parseTarget(spec)
		if err != nil {
			return err
		}
		targets[i] = t
	}
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
	infos, err := ctl.List(ctx)
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	hello := Event{Event: "connected", Addr: c.Addr().String()}
	for _, i := range infos {
		hello.Interfaces = append(hello.Interfaces, i.Name)
	}
	// A relay lists its servers; a server that is not one lists none, and
	// an older one does not know the request.
	hello.Servers, _ = ctl.Servers(ctx)
	if err := opts.write(hello); err != nil {
		return err
	}
	// Each monitor's firing comes through fired; its goroutine ends when it
	// fires, which ctl.Close makes sure of (Lost) when watch returns first.
	type firing struct {
		spec string
		down control.Down
	}
	fired := make(chan firing, len(opts.Monitors))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ctl.Close() // before wg.Wait: it fires the monitors still waiting
	for i, spec := range opts.Monitors {
		m, err := ctl.Monitor(ctx, targets[i])
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-m.Done()
			fired <- firing{spec, m.Down()}
		}()
	}
	waiting := len(opts.Monitors)
	draining := false
	for {
		select {
		case f := <-fired:
			if err := opts.write(monitorEvent(f.spec, f.down)); err != nil {
				return err
			}
			if waiting--; waiting == 0 {
				return nil
			}
		case <-ctx.Done():
			return nil // interrupted or --timeout
		case n, ok := <-ctl.Notifications():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				code := iface.CodeTransportError
				reason := "the control stream ended: the server closed it, or the connection broke"
				if draining {
					code, reason = iface.CodeDraining, "the server shut down"
				}
				if err := opts.write(Event{Event: "disconnected", Code: code.String(), Reason: reason}); err != nil {
					return err
				}
				return &cmdutil.ExitError{Code: cmdutil.ExitRemote + int(code)}
			}
			if sc, ok := n.(*control.ServersChanged); ok {
				for _, e := range serverEvents(sc) {
					if err := opts.write(e); err != nil {
						return err
					}
				}
				continue
			}
			e := event(n)
			if e.Event == "draining" {
				draining = true
			}
			if err := opts.write(e); err != nil {
				return err
			}
		}
	}
}

// serverEvents turns a relay's learn and forget into one Event per server.
func serverEvents(sc *control.ServersChanged) []Event {
	var out []Event
	for _, n := range sc.Learned {
		out = append(out, Event{Event: "server_learned", Servers: []string{n}})
	}
	for _, n := range sc.Forgotten {
		out = append(out, Event{Event: "server_forgotten", Servers: []string{n}})
	}
	return out
}

// event turns a notification into an Event.
func event(n iface.Notification) Event {
	switch x := n.(type) {
	case *control.ConnectionOpened:
		return Event{Event: "connection_opened", ConnectionID: x.ConnectionID, Interface: x.Interface, Codec: x.Codec, Client: x.Client}
	case *control.ConnectionClosed:
		return Event{Event: "connection_closed", ConnectionID: x.ConnectionID, Interface: x.Interface, Code: x.Code.String(), Reason: x.Reason}
	case *control.Draining:
		e := Event{Event: "draining"}
		if !x.Deadline.IsZero() {
			e.Deadline = x.Deadline.UTC()
		}
		return e
	case *control.InterfacesChanged:
		return Event{Event: "interfaces_changed", Interfaces: x.Added, Removed: x.Removed}
	case *control.ManifestChanged:
		return Event{Event: "manifest_changed", Interface: x.Interface, Hash: x.Hash}
	case *control.NotificationsLost:
		return Event{Event: "notifications_lost", Lost: x.Count}
	}
	return Event{Event: "unknown"}
}

// write prints e: exact in -o json and -o yaml; in text, every string the
// server sent (names, the codec, the client's name, reasons) as
// cmdutil.Untrusted shows it, so an event is always one line.
func (opts *Options) write(e Event) error {
	e.Time = opts.now().UTC()
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, e)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, e)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s", e.Time.Local().Format("15:04:05.000"), e.Event)
	switch e.Event {
	case "connected":
		switch {
		case len(e.Interfaces) > 0:
			fmt.Fprintf(&b, " to %s, serving %s", e.Addr, cmdutil.UntrustedList(e.Interfaces))
		case len(e.Servers) > 0:
			fmt.Fprintf(&b, " to %s, relaying to %s", e.Addr, cmdutil.UntrustedList(e.Servers))
		default:
			fmt.Fprintf(&b, " to %s, serving no interface", e.Addr)
		}
	case "server_learned", "server_forgotten":
		fmt.Fprintf(&b, " %s", cmdutil.UntrustedList(e.Servers))
	case "connection_opened":
		fmt.Fprintf(&b, " #%d on %s (%s)", e.ConnectionID, cmdutil.Untrusted(e.Interface), cmdutil.Untrusted(e.Codec))
		if e.Client != "" {
			fmt.Fprintf(&b, " from %s", cmdutil.Untrusted(e.Client))
		}
	case "connection_closed":
		fmt.Fprintf(&b, " #%d on %s: %s", e.ConnectionID, cmdutil.Untrusted(e.Interface), e.Code)
	case "interfaces_changed":
		if len(e.Interfaces) > 0 {
			fmt.Fprintf(&b, " added %s", cmdutil.UntrustedList(e.Interfaces))
		}
		if len(e.Removed) > 0 {
			fmt.Fprintf(&b, " removed %s", cmdutil.UntrustedList(e.Removed))
		}
	case "manifest_changed":
		fmt.Fprintf(&b, " %s now %s", cmdutil.Untrusted(e.Interface), cmdutil.Untrusted(e.Hash))
	case "notifications_lost":
		fmt.Fprintf(&b, ": %d events were dropped because this watcher fell behind", e.Lost)
	case "draining":
		if !e.Deadline.IsZero() {
			fmt.Fprintf(&b, ": connections close by %s", e.Deadline.Local().Format("15:04:05"))
		}
	case "disconnected":
		fmt.Fprintf(&b, ": %s", e.Code)
	case "monitor_down":
		fmt.Fprintf(&b, " %s: %s", e.Target, e.Code)
		if e.NoProc {
			b.WriteString(" (noproc: already gone)")
		}
	case "monitor_lost":
		fmt.Fprintf(&b, " %s: state unknown", e.Target)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", cmdutil.Untrusted(e.Reason))
	}
	b.WriteByte('\n')
	_, err := fmt.Fprint(opts.IO.Out, b.String())
	return err
}
