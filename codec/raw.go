package codec

import "fmt"

// rawCodec is the codec of bytes as they are.
type rawCodec struct{}

// Raw returns the raw codec, named "raw": bytes as they are, with no checks
// against the Type (t may be nil).
//
// Append takes a []byte, a json.RawMessage or a string and appends it to dst.
// Unmarshal stores a copy of data into a *[]byte (reusing its capacity; the
// caller may keep it after data is reused) or a *string. Any other value is an
// error matching [ErrTypeMismatch].
func Raw() Codec { return (*rawCodec)(nil) }

// Name returns "raw".
func (*rawCodec) Name() string { return NameRaw }

// Append appends v's bytes to dst.
func (*rawCodec) Append(dst []byte, t *Type, v any) ([]byte, error) {
	switch v := v.(type) {
	case []byte:
		return append(dst, v...), nil
	case string:
		return append(dst, v...), nil
	default:
		if b, ok := jsonText(v); ok {
			return append(dst, b...), nil
		}
	}
	return dst, newError(NameRaw, t, "", fmt.Errorf("%w: got Go value of type %T, want []byte, json.RawMessage or string", ErrTypeMismatch, v))
}

// Unmarshal stores a copy of data in v, a *[]byte or *string.
func (*rawCodec) Unmarshal(data []byte, t *Type, v any) error {
	switch p := v.(type) {
	case *[]byte:
		if p != nil {
			*p = append((*p)[:0], data...)
			return nil
		}
	case *string:
		if p != nil {
			*p = string(data)
			return nil
		}
	}
	return newError(NameRaw, t, "", fmt.Errorf("%w: got Go value of type %T, want a non-nil *[]byte or *string", ErrTypeMismatch, v))
}
