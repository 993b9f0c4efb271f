// Package manifests embeds the example interface manifests of this folder,
// with the .proto and schema files they name, for `ifctl demo` and for
// tests. testdata/manifests is a link to this folder, so that tests, docs
// and the walkthrough name the files as testdata/manifests/..., while
// production code imports no package under testdata.
package manifests

import "embed"

// FS holds every file of this folder; manifests resolve their relative file
// names in it (manifest.WithFS).
//
//go:embed *
var FS embed.FS
