package list

import (
	"context"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// server is one server a relay relays to, in -o json|yaml.
type server struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // how clients reach it
}

// isRelay reports whether a is a relay itself (relay://host:port/), not
// a server through it.
func isRelay(a iface.Addr) bool { return a.Network == "relay" && a.Relay == "" }

// listRelay prints the servers registered with the relay c is connected to.
func listRelay(ctx context.Context, opts *Options, ctl *iface.Control, relay iface.Addr) error {
	names, err := ctl.Servers(ctx)
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	list := make([]server, 0, len(names))
	for _, n := range names {
		list = append(list, server{n, iface.Addr{Network: "relay", Address: relay.Address, Relay: n}.String()})
	}
	return printList(opts, list, len(list), "the relay "+opts.Addr+" has no servers registered", []string{"SERVER", "ADDRESS"}, func(i int) []string {
		return []string{list[i].Name, list[i].Addr}
	})
}
