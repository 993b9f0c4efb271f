// Command ifctl validates ifkit manifests and introspects and talks to ifkit
// interfaces. All logic lives in internal/cmd; this file only wires it to the
// process.
package main

import (
	"os"

	"github.com/ifkit/ifkit/internal/cmd/root"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

func main() {
	os.Exit(root.Execute(cmdutil.System(), os.Args[1:]))
}
