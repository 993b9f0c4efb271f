// Package filter compiles and evaluates subscription filters: which of the
// messages a server sends on a connection the subscriber wants
// (spec/PROTOCOL.md §4.8, spec/MANIFEST.md §4.6).
//
// A filter is written in one of two forms:
//
//   - CEL (github.com/google/cel-go): a boolean expression over the
//     message type's top-level fields, each a variable of its own type:
//     zone == "north" && probe.startsWith("bench-");
//   - structured: JSON a small client writes by hand, compiled to the same
//     CEL: {"all":[{"field":"zone","eq":"north"},{"field":"probe","prefix":"bench-"}]}.
//
// Compile type-checks a filter against the message type (its protobuf
// descriptor, or its JSON Schema's top-level properties), allows only the
// fields the manifest's filter_fields lists, and bounds its worst-case
// cost. Every refusal is an *Error with the position and the reason.
//
// Package data evaluates a compiled *Filter at the sender (data.Filter):
// messages that do not match are never encoded, sent or given credit.
package filter
