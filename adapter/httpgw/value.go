package httpgw

import (
	"encoding/base64"
	"encoding/json"

	"google.golang.org/protobuf/proto"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/manifest"
)

// Record is how the gateway writes one received message on a stream
// (NDJSON lines and WebSocket messages; SSE puts the type in the event
// name, the sequence number in the id and the value in the data): the same
// shape `ifctl recv` prints.
type Record struct {
	Seq   uint64          `json:"seq"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// sendValue checks a JSON value from an HTTP client against t, as the
// server will, and returns what to pass to Conn.Send on a connection of
// codec codecName: a decoded protobuf message for proto, the compact JSON
// for json, the bytes a base64 string holds for raw. A value that is not
// JSON or fails its type is invalid_message (with the JSON pointer when
// known); one whose encoding is over max bytes is message_too_large.
func sendValue(t *manifest.MessageType, codecName string, data []byte, max int) (any, error) {
	if !json.Valid(data) {
		return nil, errorf(codes.InvalidMessage, "the body is not JSON: give one JSON value of type %s", t.Name)
	}
	var v any
	size := 0
	switch {
	case codecName == codec.NameRaw:
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, errorf(codes.InvalidMessage, "%s is sent as raw bytes: give a JSON string of base64", t.Name)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errorf(codes.InvalidMessage, "%s is sent as raw bytes: the string is not base64: %v", t.Name, err)
		}
		v, size = b, len(b)
	case t.Proto != nil:
		pm := t.New()
		// Checks the schema, if any, and that protojson takes the value.
		if err := codec.JSON().Unmarshal(data, &t.Type, pm); err != nil {
			return nil, toError(err)
		}
		if codecName == codec.NameProto {
			v, size = pm, proto.Size(pm)
		} else {
			v, size = json.RawMessage(data), len(data)
		}
	default:
		b, err := codec.JSON().Append(nil, &t.Type, json.RawMessage(data))
		if err != nil {
			return nil, toError(err)
		}
		v, size = json.RawMessage(b), len(b)
	}
	if size > max {
		return nil, errorf(codes.MessageTooLarge, "the %s is %d bytes encoded; the interface takes at most %d (flow.max_message_bytes)", t.Name, size, max)
	}
	return v, nil
}

// bodyLimit is how many bytes of JSON text the gateway reads for one
// message of an interface whose messages are at most max bytes encoded:
// JSON text of a protobuf message can be several times its binary size
// (field names, base64, quoted 64-bit numbers), so proto interfaces get
// room for that, and the encoded size is checked after decoding.
func bodyLimit(m *manifest.Manifest) int64 {
	max := int64(m.Flow.MaxMessageBytes)
	for _, c := range m.Codecs {
		if c == codec.NameProto {
			return 4*max + 1024
		}
	}
	return max + 1024 // some whitespace around a compact value
}
