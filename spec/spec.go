// Package spec embeds ifkit's machine-readable specifications so that the
// Go implementation checks exactly what the documents in this folder say.
//
// The prose specifications live beside this file: MANIFEST.md (the manifest
// format) and PROTOCOL.md (the wire protocol).
package spec

import _ "embed"

// ManifestSchema is the JSON Schema (draft 2020-12) of the manifest format,
// the content of spec/manifest.schema.json.
//
//go:embed manifest.schema.json
var ManifestSchema []byte

// ManifestSchemaURL is the $id of ManifestSchema.
const ManifestSchemaURL = "https://ifkit.dev/spec/manifest.schema.json"
