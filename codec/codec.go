package codec

// Codec encodes and decodes the messages of a [Type]. Implementations are
// safe for concurrent use.
type Codec interface {
	// Name returns "proto", "json" or "raw": the name used on the wire and in
	// manifests.
	Name() string
	// Append checks v against t and appends its encoding to dst. On error
	// it returns dst unchanged in length.
	Append(dst []byte, t *Type, v any) ([]byte, error)
	// Unmarshal decodes data, checks it against t and stores it in v (a
	// pointer or a proto.Message). It does not keep data.
	Unmarshal(data []byte, t *Type, v any) error
}

// The wire names of the standard codecs.
const (
	NameProto = "proto"
	NameJSON  = "json"
	NameRaw   = "raw"
)

// Depth limits for decoders. Both protect against stack exhaustion from
// hostile input; the size of a message is the caller's concern.
const (
	// MaxJSONDepth is the deepest nesting of JSON arrays and objects the json
	// codec accepts; [JSON] refuses deeper input before decoding it, and
	// refuses to encode deeper values.
	MaxJSONDepth = 64
	// MaxProtoDepth is the deepest nesting of protobuf messages the proto and
	// json codecs decode (proto.UnmarshalOptions.RecursionLimit).
	MaxProtoDepth = 100
)

var (
	_ Codec = (*protoCodec)(nil)
	_ Codec = (*jsonCodec)(nil)
	_ Codec = (*rawCodec)(nil)
)
