package codec_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
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

// wrappersFile returns a new descriptor of google/protobuf/wrappers.proto,
// linked on its own as a manifest links it: its messages have the generated
// types' full names but are other descriptors.
func wrappersFile(t testing.TB) protoreflect.FileDescriptor {
	t.Helper()
	fd, err := protodesc.NewFile(protodesc.ToFileDescriptorProto(wrapperspb.File_google_protobuf_wrappers_proto), nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// blob is a second Go type of google.protobuf.BytesValue: a proto.Message
// whose reflection view is a dynamic message.
type blob struct{ m *dynamicpb.Message }

func (b blob) ProtoReflect() protoreflect.Message { return b.m }

// TestProtoSameNameTypes sends and receives, through one Type, messages of
// every kind that has its full name (each of which the codec remembers
// after the first) and of other types between them, which must still fail
// with the same error.
func TestProtoSameNameTypes(t *testing.T) {
	typ := &codec.Type{Name: "Blob", Proto: wrappersFile(t).Messages().ByName("BytesValue")}
	c := codec.Proto()
	want := []byte("payload")
	data, err := c.Append(nil, typ, wrapperspb.Bytes(want))
	if err != nil {
		t.Fatal(err)
	}

	// Generated, dynamic of the Type's own descriptor, and (more than the
	// codec remembers) other Go types and dynamic messages of descriptors
	// linked separately.
	kinds := map[string]func() proto.Message{
		"generated":       func() proto.Message { return new(wrapperspb.BytesValue) },
		"dynamic of Type": func() proto.Message { return typ.New() },
	}
	for i := range 6 {
		md := wrappersFile(t).Messages().ByName("BytesValue")
		kinds[fmt.Sprintf("dynamic %d", i)] = func() proto.Message { return dynamicpb.NewMessage(md) }
		kinds[fmt.Sprintf("second Go type %d", i)] = func() proto.Message { return blob{dynamicpb.NewMessage(md)} }
	}
	others := wrappersFile(t)
	mismatches := []struct {
		v    any
		text string
	}{
		{wrapperspb.String("x"), "proto: type Blob: type mismatch: got message google.protobuf.StringValue, want google.protobuf.BytesValue"},
		{dynamicpb.NewMessage(others.Messages().ByName("StringValue")), "proto: type Blob: type mismatch: got message google.protobuf.StringValue, want google.protobuf.BytesValue"},
		{blob{dynamicpb.NewMessage(others.Messages().ByName("Int64Value"))}, "proto: type Blob: type mismatch: got message google.protobuf.Int64Value, want google.protobuf.BytesValue"},
		{&durationpb.Duration{}, "proto: type Blob: type mismatch: got message google.protobuf.Duration, want google.protobuf.BytesValue"},
	}
	checkMismatches := func(t *testing.T) {
		t.Helper()
		for _, mm := range mismatches {
			_, err := c.Append(nil, typ, mm.v)
			if !errors.Is(err, codec.ErrTypeMismatch) || err.Error() != mm.text {
				t.Errorf("Append(%T) error = %v, want %q", mm.v, err, mm.text)
			}
			err = c.Unmarshal(data, typ, mm.v)
			if !errors.Is(err, codec.ErrTypeMismatch) || err.Error() != mm.text {
				t.Errorf("Unmarshal(%T) error = %v, want %q", mm.v, err, mm.text)
			}
			// The json codec checks the type the same way.
			jsonText := "json" + strings.TrimPrefix(mm.text, "proto")
			_, err = codec.JSON().Append(nil, typ, mm.v)
			if !errors.Is(err, codec.ErrTypeMismatch) || err.Error() != jsonText {
				t.Errorf("json Append(%T) error = %v, want %q", mm.v, err, jsonText)
			}
			err = codec.JSON().Unmarshal([]byte(`"cGF5bG9hZA=="`), typ, mm.v)
			if !errors.Is(err, codec.ErrTypeMismatch) || err.Error() != jsonText {
				t.Errorf("json Unmarshal(%T) error = %v, want %q", mm.v, err, jsonText)
			}
		}
	}
	checkMismatches(t)
	for range 2 { // the second time round, every kind is a remembered one
		for name, newMsg := range kinds {
			m := newMsg()
			if err := c.Unmarshal(data, typ, m); err != nil {
				t.Fatalf("%s: Unmarshal: %v", name, err)
			}
			r := m.ProtoReflect()
			if got := r.Get(r.Descriptor().Fields().ByName("value")).Bytes(); string(got) != string(want) {
				t.Errorf("%s: value = %q, want %q", name, got, want)
			}
			out, err := c.Append(nil, typ, m)
			if err != nil || string(out) != string(data) {
				t.Errorf("%s: Append = %x, %v; want %x", name, out, err, data)
			}
			text, err := codec.JSON().Append(nil, typ, m)
			if err != nil || string(text) != `"cGF5bG9hZA=="` {
				t.Errorf("%s: json Append = %s, %v", name, text, err)
			}
			if err := codec.JSON().Unmarshal(text, typ, m); err != nil {
				t.Errorf("%s: json Unmarshal: %v", name, err)
			}
			// Unmarshal replaces what m held.
			if err := c.Unmarshal(nil, typ, m); err != nil {
				t.Fatalf("%s: Unmarshal of nothing: %v", name, err)
			}
			if r.Has(r.Descriptor().Fields().ByName("value")) {
				t.Errorf("%s: Unmarshal of nothing kept the value", name)
			}
			checkMismatches(t)
		}
	}
}

// TestProtoSameNameTypesConcurrent uses a new Type from many goroutines at
// once, each with messages of descriptors of its own, while others send
// other types: for the race detector.
func TestProtoSameNameTypesConcurrent(t *testing.T) {
	typ := &codec.Type{Name: "Blob", Proto: wrappersFile(t).Messages().ByName("BytesValue")}
	c := codec.Proto()
	data, err := c.Append(nil, typ, wrapperspb.Bytes([]byte("payload")))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		file := wrappersFile(t)
		wg.Go(func() {
			for range 100 {
				var m proto.Message = dynamicpb.NewMessage(file.Messages().ByName("BytesValue"))
				switch i % 3 {
				case 1:
					m = new(wrapperspb.BytesValue)
				case 2:
					m = blob{dynamicpb.NewMessage(file.Messages().ByName("BytesValue"))}
				}
				if err := c.Unmarshal(data, typ, m); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Append(nil, typ, m); err != nil {
					t.Error(err)
					return
				}
				other := dynamicpb.NewMessage(file.Messages().ByName("StringValue"))
				if err := c.Unmarshal(data, typ, other); !errors.Is(err, codec.ErrTypeMismatch) {
					t.Errorf("Unmarshal into StringValue: error = %v, want ErrTypeMismatch", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestProtoUnmarshalNilMessage: a nil *T of a generated type makes the
// decoder panic (in Reset); the codec returns an error instead.
func TestProtoUnmarshalNilMessage(t *testing.T) {
	typ := types(t).bytesValue
	data, err := codec.Proto().Append(nil, typ, wrapperspb.Bytes([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	err = codec.Proto().Unmarshal(data, typ, (*wrapperspb.BytesValue)(nil))
	var ce *codec.Error
	if !errors.As(err, &ce) || ce.Codec != "proto" || errors.Is(err, codec.ErrTypeMismatch) {
		t.Errorf("error = %v, want a *codec.Error of the decoder", err)
	}
}

// TestProtoNoAllocsSameName holds Append and Unmarshal of a generated type
// against a manifest's own descriptor of its name to no allocations beyond
// the decoded bytes.
func TestProtoNoAllocsSameName(t *testing.T) {
	typ := types(t).bytesValue
	c := codec.Proto()
	in := wrapperspb.Bytes(make([]byte, 64))
	dst := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = c.Append(dst[:0], typ, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Append allocates %v times per message, want 0", allocs)
	}
	out := new(wrapperspb.BytesValue)
	allocs = testing.AllocsPerRun(100, func() {
		if err := c.Unmarshal(dst, typ, out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 { // the copy of the value
		t.Errorf("Unmarshal allocates %v times per message, want 1", allocs)
	}
}

// TestProtoTypeChanged: a Type is read-only once used, but if its Proto were
// changed, the descriptors found to match the old one no longer match.
func TestProtoTypeChanged(t *testing.T) {
	typ := &codec.Type{Name: "Blob", Proto: wrappersFile(t).Messages().ByName("BytesValue")}
	c := codec.Proto()
	data := []byte{0x0a, 0x01, 0xff} // value = "\xff": bytes, or a string that is not UTF-8
	if _, err := c.Append(nil, typ, wrapperspb.Bytes(nil)); err != nil {
		t.Fatal(err)
	}
	if err := codec.CheckProtoType(data, typ); err != nil {
		t.Fatal(err)
	}
	typ.Proto = wrappersFile(t).Messages().ByName("StringValue")
	if _, err := c.Append(nil, typ, wrapperspb.Bytes(nil)); !errors.Is(err, codec.ErrTypeMismatch) {
		t.Errorf("Append of a BytesValue as a StringValue: error = %v, want ErrTypeMismatch", err)
	}
	if _, err := c.Append(nil, typ, wrapperspb.String("x")); err != nil {
		t.Errorf("Append of a StringValue: %v", err)
	}
	if err := codec.CheckProtoType(data, typ); err == nil {
		t.Error("CheckProtoType used the plan of the old Proto")
	}
}
