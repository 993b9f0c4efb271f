package cmdutil

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// ConnectTo opens a data connection to the interface name on c; a refusal
// says what to try (Explain).
func ConnectTo(ctx context.Context, c *iface.Client, addr, name string, opts ...iface.ConnectOption) (*iface.Conn, error) {
	conn, err := c.Connect(ctx, name, opts...)
	if err != nil {
		return nil, Explain(err, addr)
	}
	return conn, nil
}

// NeedServerSends fails when the interface's server sends nothing a client
// could receive (a recv interface), saying what to do instead.
func NeedServerSends(m *manifest.Manifest, addr string) error {
	if m.Direction.Sends() {
		return nil
	}
	return Problem(fmt.Sprintf("wrong direction: %s only receives (clients send to it, it sends nothing back)", m.Name),
		fmt.Sprintf("send to it with: ifctl send %s %s -d JSON", addr, m.Name),
		fmt.Sprintf("see its types with: ifctl describe %s %s", addr, m.Name))
}

// ClientType finds the message type a client sends under name: it must be
// one of the interface's recv types. The error says what is wrong: an
// interface that only sends, a type the server sends, an unknown name.
func ClientType(m *manifest.Manifest, name, addr string) (*manifest.MessageType, error) {
	if !m.Direction.Receives() {
		return nil, Problem(fmt.Sprintf("wrong direction: %s only sends (the server streams to clients and accepts no messages)", m.Name),
			fmt.Sprintf("read from it with: ifctl recv %s %s", addr, m.Name))
	}
	t, ok := m.Type(name)
	if !ok {
		return nil, Problem(fmt.Sprintf("%s has no message type %q; clients send %s", m.Name, name, TypeNames(m.Recv)),
			fmt.Sprintf("see its types with: ifctl describe %s %s", addr, m.Name))
	}
	if t.Direction != manifest.Recv {
		return nil, Problem(fmt.Sprintf("wrong direction: %s %s is sent by the server, not by clients; clients send %s", m.Name, name, TypeNames(m.Recv)),
			fmt.Sprintf("receive it with: ifctl recv %s %s", addr, m.Name))
	}
	return t, nil
}

// TypeNames lists type names for a message: "Get, Put, Scan".
func TypeNames(ts []*manifest.MessageType) string {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// progressEvery is how often Progress redraws its line.
const progressEvery = 100 * time.Millisecond

// Progress shows a one-line count on a terminal (and nothing on a pipe or
// file), redrawn at most every progressEvery.
type Progress struct {
	w     io.Writer
	on    bool
	last  time.Time
	shown bool
}

// NewProgress returns a progress line on w, shown only when w is a terminal.
func NewProgress(w io.Writer) *Progress { return &Progress{w: w, on: IsTerminal(w)} }

// Update redraws the line with the text format makes, unless it was drawn
// less than progressEvery ago.
func (p *Progress) Update(format string, args ...any) {
	if !p.on || time.Since(p.last) < progressEvery {
		return
	}
	p.last = time.Now()
	p.shown = true
	fmt.Fprintf(p.w, "\r\033[K"+format, args...)
}

// Done clears the line.
func (p *Progress) Done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// completeTimeout bounds the connection shell completion makes to list a
// server's interfaces.
const completeTimeout = 2 * time.Second

// CompleteIfaces completes the IFACE argument after ADDR with the names of
// the interfaces the server at ADDR hosts (asked over a short connection);
// nothing else is completed.
func CompleteIfaces(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) != 1 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
	defer cancel()
	c, err := Dial(ctx, args[0], &ConnFlags{Timeout: completeTimeout})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.Close()
	ctl, err := c.Control(ctx, "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer ctl.Close()
	infos, err := ctl.List(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(infos))
	for _, i := range infos {
		names = append(names, i.Name+"\t"+i.Title)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
