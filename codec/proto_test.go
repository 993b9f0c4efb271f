package codec_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
)

func TestProtoName(t *testing.T) {
	if got := codec.Proto().Name(); got != "proto" {
		t.Errorf("Name() = %q, want proto", got)
	}
}

func TestProtoRoundTripGenerated(t *testing.T) {
	typ := types(t).duration
	c := codec.Proto()
	in := durationpb.New(90*time.Second + 5*time.Millisecond)

	prefix := []byte("hdr:")
	b, err := c.Append(prefix, typ, in)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if !strings.HasPrefix(string(b), "hdr:") {
		t.Fatalf("Append lost dst's contents: %q", b)
	}

	var out durationpb.Duration
	if err := c.Unmarshal(b[len(prefix):], typ, &out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !proto.Equal(in, &out) {
		t.Errorf("round trip: got %v, want %v", &out, in)
	}

	// A dynamic message of the same type decodes the same bytes.
	dyn := typ.New()
	if err := c.Unmarshal(b[len(prefix):], typ, dyn); err != nil {
		t.Fatalf("Unmarshal into dynamic: %v", err)
	}
	if got := dyn.ProtoReflect().Get(typ.Proto.Fields().ByName("seconds")).Int(); got != 90 {
		t.Errorf("dynamic seconds = %d, want 90", got)
	}
}

func TestProtoRoundTripDynamic(t *testing.T) {
	typ := types(t).readingProto
	c := codec.Proto()
	in := message(t, typ, readingText)

	b, err := c.Append(nil, typ, in)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	out := typ.New()
	if err := c.Unmarshal(b, typ, out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !proto.Equal(in, out) {
		t.Errorf("round trip: got %v, want %v", out, in)
	}
}

func TestProtoUnmarshalReplaces(t *testing.T) {
	typ := types(t).readingProto
	c := codec.Proto()
	b, err := c.Append(nil, typ, message(t, typ, `{"probe":"p2"}`))
	if err != nil {
		t.Fatal(err)
	}
	out := message(t, typ, readingText)
	if err := c.Unmarshal(b, typ, out); err != nil {
		t.Fatal(err)
	}
	if want := message(t, typ, `{"probe":"p2"}`); !proto.Equal(out, want) {
		t.Errorf("Unmarshal merged instead of replacing: got %v", out)
	}
}

func TestProtoWrongType(t *testing.T) {
	typ := types(t).readingProto
	c := codec.Proto()
	valid, err := c.Append(nil, typ, message(t, typ, readingText))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		op   func() error
		want []string // substrings of the error text
	}{
		{"append other message", func() error {
			_, err := c.Append(nil, typ, wrapperspb.String("x"))
			return err
		}, []string{"google.protobuf.StringValue", "greenhouse.v1.Reading"}},
		{"append other dynamic message", func() error {
			_, err := c.Append(nil, typ, types(t).location.New())
			return err
		}, []string{"greenhouse.v1.Location", "greenhouse.v1.Reading"}},
		{"append Go value", func() error {
			_, err := c.Append(nil, typ, map[string]any{"probe": "p1"})
			return err
		}, []string{"map[string]interface {}", "greenhouse.v1.Reading"}},
		{"append nil", func() error {
			_, err := c.Append(nil, typ, nil)
			return err
		}, []string{"<nil>"}},
		{"unmarshal into other message", func() error {
			return c.Unmarshal(valid, typ, &durationpb.Duration{})
		}, []string{"google.protobuf.Duration", "greenhouse.v1.Reading"}},
		{"unmarshal into bytes", func() error {
			var b []byte
			return c.Unmarshal(valid, typ, &b)
		}, []string{"*[]uint8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if !errors.Is(err, codec.ErrTypeMismatch) {
				t.Fatalf("error = %v, want ErrTypeMismatch", err)
			}
			var ce *codec.Error
			if !errors.As(err, &ce) || ce.Codec != "proto" || ce.Type != "Reading" {
				t.Errorf("error = %#v, want *codec.Error for proto, type Reading", err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

func TestProtoNoDefinition(t *testing.T) {
	typ := types(t).readingSchema
	c := codec.Proto()
	_, err := c.Append(nil, typ, types(t).readingProto.New())
	if !errors.Is(err, codec.ErrNoProto) {
		t.Fatalf("Append error = %v, want ErrNoProto", err)
	}
	const want = "proto: type Reading: no protobuf definition; use the json or raw codec"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if err := c.Unmarshal(nil, typ, types(t).readingProto.New()); !errors.Is(err, codec.ErrNoProto) {
		t.Errorf("Unmarshal error = %v, want ErrNoProto", err)
	}
	if err := c.Unmarshal(nil, nil, types(t).readingProto.New()); !errors.Is(err, codec.ErrNoProto) {
		t.Errorf("Unmarshal with nil type: error = %v, want ErrNoProto", err)
	}
}

func TestProtoInvalidData(t *testing.T) {
	typ := types(t).sample
	c := codec.Proto()
	valid, err := c.Append(nil, typ, message(t, typ, `{"name":"a long enough name"}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"truncated":         valid[:len(valid)-3],
		"bad wire type":     {0x0f},
		"invalid UTF-8":     {0x0a, 0x02, 0xff, 0xfe}, // probe = "\xff\xfe"
		"varint too long":   {0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"length past end":   {0x0a, 0x7f, 'p'},
		"zero field number": {0x00, 0x01},
		// A map entry repeating its key with the wrong wire type makes
		// protobuf-go's reflection decoder panic; the codec must not.
		"map key wrong wire type": []byte("Z\x05\n\x010\b0"),
	} {
		t.Run(name, func(t *testing.T) {
			err := c.Unmarshal(data, typ, typ.New())
			var ce *codec.Error
			if !errors.As(err, &ce) || ce.Codec != "proto" {
				t.Fatalf("error = %v, want *codec.Error", err)
			}
			if errors.Is(err, codec.ErrTypeMismatch) {
				t.Errorf("bad data reported as type mismatch: %v", err)
			}
		})
	}
}

// nestedSample returns a Sample nested depth levels deep through children.
func nestedSample(t *codec.Type, depth int) proto.Message {
	children := t.Proto.Fields().ByName("children")
	root := t.New()
	m := root.ProtoReflect()
	for range depth - 1 {
		child := m.NewField(children).List().NewElement()
		list := m.Mutable(children).List()
		list.Append(child)
		m = child.Message()
	}
	m.Set(t.Proto.Fields().ByName("name"), protoreflect.ValueOfString("leaf"))
	return root
}

func TestProtoDeepNesting(t *testing.T) {
	typ := types(t).sample
	c := codec.Proto()

	ok, err := c.Append(nil, typ, nestedSample(typ, codec.MaxProtoDepth))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unmarshal(ok, typ, typ.New()); err != nil {
		t.Errorf("Unmarshal at MaxProtoDepth: %v", err)
	}

	deep, err := c.Append(nil, typ, nestedSample(typ, codec.MaxProtoDepth+1))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unmarshal(deep, typ, typ.New()); err == nil {
		t.Errorf("Unmarshal accepted a message nested %d deep", codec.MaxProtoDepth+1)
	}

	// Hostile input: children nested far deeper than any real message,
	// built on the wire directly.
	var hostile []byte
	for range 5000 {
		hostile = protowire.AppendBytes(protowire.AppendTag(nil, 15, protowire.BytesType), hostile)
	}
	if err := c.Unmarshal(hostile, typ, typ.New()); err == nil {
		t.Error("Unmarshal accepted 5000 levels of nesting")
	}
}
