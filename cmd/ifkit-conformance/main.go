// Command ifkit-conformance serves ifkit's conformance suite
// (spec/conformance/README.md) for a client under test: the reference server
// and the scripted scenarios, on Unix sockets and TCP at once. It prints one
// JSON line with every listener's address, then one JSON verdict per
// scenario played, until stdin closes or it is signalled.
//
//	ifkit-conformance [-dir DIR] [-host 127.0.0.1]
//	ifkit-conformance -scenarios   # the scenarios, as JSON
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ifkit/ifkit/internal/conformance"
)

func main() {
	dir := flag.String("dir", "", "folder for the Unix sockets (default: a new temporary folder, removed at exit)")
	host := flag.String("host", "127.0.0.1", "host of the TCP listeners")
	list := flag.Bool("scenarios", false, "print the scenarios as JSON and exit")
	flag.Parse()
	if *list {
		b, _ := json.MarshalIndent(conformance.Scenarios(), "", "  ")
		fmt.Println(string(b))
		return
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "ifkit-conformance-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "ifkit-conformance:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The suite runs until its caller closes our stdin (or signals us), so a
	// test harness that dies does not leave it behind.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	if err := conformance.Run(ctx, *dir, *host, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ifkit-conformance:", err)
		os.Exit(1)
	}
}
