// Package codec turns typed messages into bytes and back: proto (binary
// protobuf), json, raw.
//
// A [Type] is one message type of an interface as the manifest defines it: a
// name, and a protobuf message descriptor and/or a compiled JSON Schema. A
// [Codec] encodes a Go value of that type with [Codec.Append] and decodes it
// with [Codec.Unmarshal], checking the value against the type both ways:
//
//   - [Proto] is binary protobuf. It takes and fills proto.Message values
//     (generated Go types or dynamicpb messages) whose full name is the type's.
//   - [JSON] is JSON text. It takes proto.Message values (encoded with the
//     canonical protobuf JSON mapping), JSON text ([]byte, json.RawMessage),
//     or any Go value encoding/json can marshal, and checks the result against
//     the type's JSON Schema or, when it has none, its protobuf definition.
//   - [Raw] is bytes as they are, with no checks.
//
// Codecs are stateless and safe for concurrent use. The constructors return
// ready codecs; there are no options. A [Set] holds codecs by their wire
// names and negotiates one from a peer's list; [Standard] returns a new set of
// the three. The package keeps no mutable state of its own: sets are values
// that are passed in.
//
// Every failure is an [*Error] that names the codec, the type and, when it is
// known, a JSON pointer to the failing field:
//
//	json: type Reading: /celsius: expected number, but got string
//
// A value of the wrong Go type or of the wrong protobuf message type matches
// [ErrTypeMismatch] with errors.Is.
//
// The size of a message is the caller's concern (the data sub-interface bounds
// it). Nesting depth is not: decoders refuse JSON nested deeper than
// [MaxJSONDepth] before decoding it, and protobuf nested deeper than
// [MaxProtoDepth], so hostile input cannot exhaust the stack.
package codec
