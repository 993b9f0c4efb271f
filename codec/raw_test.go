package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ifkit/ifkit/codec"
)

func TestRawName(t *testing.T) {
	if got := codec.Raw().Name(); got != "raw" {
		t.Errorf("Name() = %q, want raw", got)
	}
}

func TestRawRoundTrip(t *testing.T) {
	c := codec.Raw()
	payload := "\x00\xffnot json{"
	for name, v := range map[string]any{
		"bytes":       []byte(payload),
		"raw message": json.RawMessage(payload),
		"string":      payload,
	} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Append([]byte("p:"), types(t).reading, v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != "p:"+payload {
				t.Fatalf("Append = %q", b)
			}
			var out []byte
			if err := c.Unmarshal(b[2:], nil, &out); err != nil {
				t.Fatal(err)
			}
			var s string
			if err := c.Unmarshal(b[2:], nil, &s); err != nil {
				t.Fatal(err)
			}
			if string(out) != payload || s != payload {
				t.Errorf("Unmarshal = %q, %q, want %q", out, s, payload)
			}
		})
	}
}

func TestRawUnmarshalCopies(t *testing.T) {
	data := []byte("hello")
	out := make([]byte, 0, 64)
	if err := codec.Raw().Unmarshal(data, nil, &out); err != nil {
		t.Fatal(err)
	}
	data[0] = 'J'
	if !bytes.Equal(out, []byte("hello")) {
		t.Errorf("Unmarshal kept data: got %q", out)
	}
	if cap(out) != 64 {
		t.Errorf("Unmarshal did not reuse the slice's capacity")
	}
}

func TestRawWrongType(t *testing.T) {
	c := codec.Raw()
	var nilBytes *[]byte
	for name, err := range map[string]error{
		"append int": func() error { _, err := c.Append(nil, nil, 42); return err }(),
		"append nil": func() error { _, err := c.Append(nil, nil, nil); return err }(),
		"into int":   c.Unmarshal([]byte("x"), nil, new(int)),
		"into bytes": c.Unmarshal([]byte("x"), nil, []byte{}),
		"into nil":   c.Unmarshal([]byte("x"), nil, nilBytes),
	} {
		if !errors.Is(err, codec.ErrTypeMismatch) {
			t.Errorf("%s: error = %v, want ErrTypeMismatch", name, err)
		}
	}
}
