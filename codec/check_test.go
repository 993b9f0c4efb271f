package codec_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
)

func TestCheckProtoAgreesWithUnmarshal(t *testing.T) {
	md := (&structpb.Struct{}).ProtoReflect().Descriptor()
	good, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", map[string]any{"c": true}}})
	data, _ := proto.Marshal(good)
	cases := map[string][]byte{
		"valid":       data,
		"truncated":   data[:len(data)-1],
		"bad utf8":    mustMarshal(t, &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("ok")}}, "ok", "\xff\xfe"),
		"garbage tag": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"empty":       {},
	}
	for name, b := range cases {
		want := proto.Unmarshal(b, &structpb.Struct{})
		got := codec.CheckProto(b, md)
		if (got == nil) != (want == nil) {
			t.Errorf("%s: CheckProto = %v, proto.Unmarshal = %v", name, got, want)
		}
	}
	if err := codec.CheckProto(data, nil); !errors.Is(err, codec.ErrNoProto) {
		t.Errorf("nil descriptor: %v", err)
	}
}

// mustMarshal marshals m and then replaces the string old by bad in the
// encoding (same length), to make invalid UTF-8 the encoder refuses to write.
func mustMarshal(t *testing.T, m proto.Message, old, bad string) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+len(old) <= len(b); i++ {
		if string(b[i:i+len(old)]) == old {
			copy(b[i:], bad)
			return b
		}
	}
	t.Fatal("marker not found")
	return nil
}

func FuzzCheckProto(f *testing.F) {
	good, _ := structpb.NewStruct(map[string]any{"a": "x", "n": []any{1.0, nil}})
	data, _ := proto.Marshal(good)
	f.Add(data)
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x03, 0xff, 0xfe, 0xfd})
	md := (&structpb.Struct{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, b []byte) {
		if (codec.CheckProto(b, md) == nil) != (proto.Unmarshal(b, &structpb.Struct{}) == nil) {
			t.Fatalf("CheckProto and proto.Unmarshal disagree on %x", b)
		}
	})
}

func BenchmarkCheckProto(b *testing.B) {
	m := wrapperspb.Bytes(make([]byte, 64))
	data, _ := proto.Marshal(m)
	md := m.ProtoReflect().Descriptor()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := codec.CheckProto(data, md); err != nil {
			b.Fatal(err)
		}
	}
}
