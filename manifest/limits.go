package manifest

import "fmt"

// Limits on what one load reads and compiles (spec/MANIFEST.md §2.1, §5,
// §14). A manifest and its folder may come from someone else: these bound the
// memory and time a load can take, and each is refused with an error naming
// the limit before the work it guards is done.
const (
	// MaxFileBytes bounds each file a load reads: the manifest, a
	// descriptor-set file, a .proto or schema file. It also bounds the
	// canonical form, so that every receiver of it can parse it.
	MaxFileBytes = 16 << 20

	// MaxLoadBytes bounds all the files one load reads together, the
	// manifest included.
	MaxLoadBytes = 32 << 20

	// MaxSourceBytes bounds the .proto and schema files of one load together.
	// They are compiled, which costs about a second per MiB of .proto.
	MaxSourceBytes = 4 << 20

	// MaxProtoLineBytes bounds each line of a .proto file: the protobuf
	// compiler's source positions take time quadratic in a line's length
	// (an enum of 10 000 values on one line took 5 s, 40 000 over a minute).
	MaxProtoLineBytes = 4 << 10

	// MaxSchemaObjects bounds the objects and booleans of one message schema,
	// at any depth: each may be a subschema, and the JSON Schema compiler
	// takes time quadratic in their number (8192 took 0.9 s, 60 000 a
	// minute).
	MaxSchemaObjects = 4096

	// MaxSchemaObjectsTotal bounds the objects and booleans of one
	// manifest's message schemas together.
	MaxSchemaObjectsTotal = 16384

	// MaxPatternBytes bounds the regular expressions of one manifest's
	// schemas together: every `pattern` and every `patternProperties` key.
	// Compiling them costs time in proportion (a 1.2 MB pattern took 3 to
	// 9 s).
	MaxPatternBytes = 64 << 10
)

// maxNodes bounds the size of a parsed document, aliases expanded, so that a
// small YAML file cannot expand into gigabytes ("billion laughs").
const maxNodes = 1 << 18

// sizeText writes a limit for a person: "16777216 bytes (16 MiB)".
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d bytes (%d MiB)", n, n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d bytes (%d KiB)", n, n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
