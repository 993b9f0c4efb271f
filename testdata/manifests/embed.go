// Package manifests embeds the example interface manifests of this folder,
// with the .proto and schema files they name, for `ifctl demo` and for
// tests. It lives under testdata so that `go test ./...` leaves it alone,
// and stays importable.
package manifests

import "embed"

// FS holds every file of this folder; manifests resolve their relative file
// names in it (manifest.WithFS).
//
//go:embed *
var FS embed.FS
