package ls

import (
	"context"
	"fmt"
	"strings"

	ifk "github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// relayAddr returns the relay that arg names (relay://HOST:PORT/), or false
// when arg is a folder.
func relayAddr(arg string) (ifk.Addr, bool, error) {
	if !strings.HasPrefix(arg, "relay://") && !strings.HasPrefix(arg, "relay+tls://") {
		return ifk.Addr{}, false, nil
	}
	a, err := ifk.ParseAddr(arg)
	if err != nil {
		return a, true, cmdutil.UsageError(err)
	}
	if a.Relay != "" {
		return a, true, cmdutil.UsageError(fmt.Errorf("ls %s: name the relay itself, relay://%s/ (ifctl list %s lists that one server's interfaces)", arg, a.Address, arg))
	}
	return a, true, nil
}

// relayEntries lists the servers registered with the relay at a, each
// with its interfaces (asked in parallel, through the relay).
func relayEntries(ctx context.Context, opts *Options, a ifk.Addr) ([]*entry, error) {
	cctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	c, err := cmdutil.Dial(cctx, a.String(), &opts.Conn)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctl, err := c.Control(cctx, "")
	if err != nil {
		return nil, cmdutil.Explain(err, a.String())
	}
	defer ctl.Close()
	names, err := ctl.Servers(cctx)
	if err != nil {
		return nil, cmdutil.Explain(err, a.String())
	}
	entries := make([]*entry, 0, len(names))
	for _, n := range names {
		entries = append(entries, &entry{Name: n, Addr: ifk.Addr{Network: "relay", Address: a.Address, Relay: n}.String(), Interfaces: []iface{}})
	}
	askAll(ctx, opts, entries)
	return entries, nil
}
