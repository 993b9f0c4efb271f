package cmdutil

import (
	"os"
	"path/filepath"
)

// RegistryDir is the folder ifctl ls lists when it is given none:
// $IFKIT_REGISTRY, else $XDG_RUNTIME_DIR/ifkit, else /run/ifkit.
func RegistryDir() string {
	if d := os.Getenv("IFKIT_REGISTRY"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ifkit")
	}
	return "/run/ifkit"
}
