package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
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
	typ := &codec.Type{Name: "Struct", Proto: md}
	for name, b := range cases {
		want := proto.Unmarshal(b, &structpb.Struct{})
		got := checkProtoBoth(t, typ, b)
		if (got == nil) != (want == nil) {
			t.Errorf("%s: CheckProto = %v, proto.Unmarshal = %v", name, got, want)
		}
	}
	if err := codec.CheckProto(data, nil); !errors.Is(err, codec.ErrNoProto) {
		t.Errorf("nil descriptor: %v", err)
	}
	for _, typ := range []*codec.Type{nil, {Name: "Reading"}} {
		if err := codec.CheckProtoType(data, typ); !errors.Is(err, codec.ErrNoProto) {
			t.Errorf("CheckProtoType(%v): %v", typ, err)
		}
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

// TestCheckProtoErrors holds CheckProto's error texts, and CheckProtoType's,
// to what they are.
func TestCheckProtoErrors(t *testing.T) {
	typ := types(t).sample
	for _, c := range checkProtoErrorCases() {
		err := checkProtoBoth(t, typ, c.data)
		if err == nil {
			t.Errorf("%s: CheckProto accepted %x", c.name, c.data)
			continue
		}
		if got := errorText(err); got != c.text {
			t.Errorf("%s: CheckProto error\n got: %s\nwant: %s", c.name, got, c.text)
		}
		if codec.Proto().Unmarshal(c.data, typ, typ.New()) == nil {
			t.Errorf("%s: the proto codec accepted %x", c.name, c.data)
		}
	}

	// Packed varints, in a proto2 type (whose repeated int32 is not declared
	// packed, and decoders accept it packed all the same), and high field
	// numbers.
	file := &codec.Type{Name: "File", Proto: (&descriptorpb.FileDescriptorProto{}).ProtoReflect().Descriptor()}
	for _, c := range []checkProtoCase{
		{"packed varint truncated", []byte{0x52, 0x02, 0x01, 0x80}, "malformed protobuf in google.protobuf.FileDescriptorProto.public_dependency: unexpected EOF"},
		{"packed varint overflow", append([]byte{0x52, 0x0b}, bytes.Repeat([]byte{0xff}, 11)...), "malformed protobuf in google.protobuf.FileDescriptorProto.public_dependency: proto: variable length integer overflow"},
		{"nested packed varint truncated", []byte{0x4a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0x01, 0x80}, "malformed protobuf in google.protobuf.SourceCodeInfo.Location.path: unexpected EOF"},
		// options.uninterpreted_option (field 999: a plan keeps it apart
		// from its dense looks), whose name is cut short.
		{"high field number", []byte{0x42, 0x05, 0xba, 0x3e, 0x02, 0x12, 0x05}, "malformed protobuf in google.protobuf.UninterpretedOption.name: unexpected EOF"},
		{"high field number past end", []byte{0x42, 0x04, 0xba, 0x3e, 0x02, 0x12}, "malformed protobuf in google.protobuf.FileOptions.uninterpreted_option: unexpected EOF"},
	} {
		err := checkProtoBoth(t, file, c.data)
		if err == nil || errorText(err) != c.text {
			t.Errorf("%s: CheckProto error\n got: %v\nwant: %s", c.name, err, c.text)
		}
		if proto.Unmarshal(c.data, &descriptorpb.FileDescriptorProto{}) == nil {
			t.Errorf("%s: proto.Unmarshal accepted %x", c.name, c.data)
		}
	}
}

// TestCheckProtoTypeConcurrent checks messages of new Types from many
// goroutines at once, which build the Types' plans at once: for the race
// detector.
func TestCheckProtoTypeConcurrent(t *testing.T) {
	typ := &codec.Type{Name: "Sample", Proto: types(t).sample.Proto}
	bad := checkProtoErrorCases()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := bad[i%len(bad)]
			for range 20 {
				if err := codec.CheckProtoType(c.data, typ); err == nil || errorText(err) != c.text {
					t.Errorf("%s: error = %v, want %s", c.name, err, c.text)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCheckProtoTypeNoAllocs: after the first message, the check allocates
// nothing.
func TestCheckProtoTypeNoAllocs(t *testing.T) {
	typ := types(t).readingProto
	data, err := codec.Proto().Append(nil, typ, message(t, typ, readingText))
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := codec.CheckProtoType(data, typ); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("CheckProtoType allocates %v times per message, want 0", allocs)
	}
}

// errorText returns err's text with the protobuf library's prefix spelled
// one way: it randomly uses a no-break space after "proto:" (so that
// programs do not compare its texts).
func errorText(err error) string { return strings.ReplaceAll(err.Error(), "proto:\u00a0", "proto: ") }

// checkProtoBoth returns CheckProto's error, having failed t unless
// CheckProtoType's error for a Type of md is the same.
func checkProtoBoth(t *testing.T, typ *codec.Type, b []byte) error {
	t.Helper()
	err := codec.CheckProto(b, typ.Proto)
	if err2 := codec.CheckProtoType(b, typ); fmt.Sprint(err) != fmt.Sprint(err2) {
		t.Fatalf("on %x: CheckProto = %v, CheckProtoType = %v", b, err, err2)
	}
	return err
}

// FuzzCheckProto holds CheckProto and CheckProtoType to proto.Unmarshal's
// verdict for two generated types: Struct (proto3: UTF-8, maps, recursion)
// and FileDescriptorProto (proto2: packed varints, no UTF-8 check;
// AllowPartial, as the check does not look for required fields).
func FuzzCheckProto(f *testing.F) {
	good, _ := structpb.NewStruct(map[string]any{"a": "x", "n": []any{1.0, nil}})
	data, _ := proto.Marshal(good)
	f.Add(data)
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x03, 0xff, 0xfe, 0xfd})
	fdp, _ := proto.Marshal(protodesc.ToFileDescriptorProto(wrapperspb.File_google_protobuf_wrappers_proto))
	f.Add(fdp)
	f.Add([]byte{0x52, 0x03, 0x01, 0x80, 0x01}) // public_dependency: [1, 128]
	structType := &codec.Type{Name: "Struct", Proto: (&structpb.Struct{}).ProtoReflect().Descriptor()}
	fileType := &codec.Type{Name: "File", Proto: (&descriptorpb.FileDescriptorProto{}).ProtoReflect().Descriptor()}
	f.Fuzz(func(t *testing.T, b []byte) {
		if (checkProtoBoth(t, structType, b) == nil) != (proto.Unmarshal(b, &structpb.Struct{}) == nil) {
			t.Fatalf("CheckProto and proto.Unmarshal disagree on %x as a Struct", b)
		}
		partial := proto.UnmarshalOptions{AllowPartial: true}
		if (checkProtoBoth(t, fileType, b) == nil) != (partial.Unmarshal(b, &descriptorpb.FileDescriptorProto{}) == nil) {
			t.Fatalf("CheckProto and proto.Unmarshal disagree on %x as a FileDescriptorProto", b)
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

type checkProtoCase struct {
	name string
	data []byte
	text string // the error's text, with the protobuf library's prefix "proto: " spelled with a space
}

// checkProtoErrorCases returns malformed encodings of a Sample, one for
// each error CheckProto reports, and the error's text.
func checkProtoErrorCases() []checkProtoCase {
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	cat := func(bs ...[]byte) []byte { return slices.Concat(bs...) }
	bytesField := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(tag(num, protowire.BytesType), v)
	}
	var deep []byte
	for range codec.MaxProtoDepth + 1 {
		deep = bytesField(15, deep)
	}
	return []checkProtoCase{
		{"tag overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "malformed protobuf in greenhouse.v1.Sample: proto: variable length integer overflow"},
		{"tag truncated", []byte{0x80}, "malformed protobuf in greenhouse.v1.Sample: unexpected EOF"},
		{"zero field number", []byte{0x00, 0x01}, "malformed protobuf in greenhouse.v1.Sample: proto: invalid field number"},
		{"field number out of range", protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), "malformed protobuf in greenhouse.v1.Sample: field number 536870912 out of range"},
		{"varint truncated", cat(tag(7, protowire.VarintType), []byte{0xff}), "malformed protobuf in greenhouse.v1.Sample field 7: unexpected EOF"},
		{"fixed32 truncated", cat(tag(6, protowire.Fixed32Type), []byte{1, 2}), "malformed protobuf in greenhouse.v1.Sample field 6: unexpected EOF"},
		{"fixed64 truncated", cat(tag(4, protowire.Fixed64Type), []byte{1, 2}), "malformed protobuf in greenhouse.v1.Sample field 4: unexpected EOF"},
		{"bytes past end", cat(tag(2, protowire.BytesType), []byte{5, 'a'}), "malformed protobuf in greenhouse.v1.Sample field 2: unexpected EOF"},
		{"bytes length truncated", cat(tag(2, protowire.BytesType), []byte{0x80}), "malformed protobuf in greenhouse.v1.Sample field 2: unexpected EOF"},
		{"string past end", cat(tag(1, protowire.BytesType), []byte{5, 'a'}), "malformed protobuf in greenhouse.v1.Sample.name: unexpected EOF"},
		{"string length truncated", cat(tag(13, protowire.BytesType), []byte{0x80}), "malformed protobuf in greenhouse.v1.Sample.text: unexpected EOF"},
		{"string not UTF-8", bytesField(1, []byte{0xff, 0xfe}), "malformed protobuf: greenhouse.v1.Sample.name is not valid UTF-8"},
		{"oneof string not UTF-8", bytesField(13, []byte("a\xc0")), "malformed protobuf: greenhouse.v1.Sample.text is not valid UTF-8"},
		{"string as fixed32 truncated", cat(tag(1, protowire.Fixed32Type), []byte{1}), "malformed protobuf in greenhouse.v1.Sample field 1: unexpected EOF"},
		{"message past end", cat(tag(14, protowire.BytesType), []byte{9}), "malformed protobuf in greenhouse.v1.Sample.where: unexpected EOF"},
		{"nested string past end", bytesField(14, cat(tag(1, protowire.BytesType), []byte{5})), "malformed protobuf in greenhouse.v1.Location.site: unexpected EOF"},
		{"nested string not UTF-8", bytesField(15, bytesField(15, bytesField(1, []byte{0xff}))), "malformed protobuf: greenhouse.v1.Sample.name is not valid UTF-8"},
		{"map key not UTF-8", bytesField(11, bytesField(1, []byte{0xff})), "malformed protobuf: greenhouse.v1.Sample.CountsEntry.key is not valid UTF-8"},
		{"map value truncated", bytesField(11, cat(tag(2, protowire.VarintType), []byte{0x80})), "malformed protobuf in greenhouse.v1.Sample.CountsEntry field 2: unexpected EOF"},
		{"packed length truncated", cat(tag(12, protowire.BytesType), []byte{0x80}), "malformed protobuf in greenhouse.v1.Sample field 12: unexpected EOF"},
		{"packed past end", cat(tag(12, protowire.BytesType), []byte{9, 0}), "malformed protobuf in greenhouse.v1.Sample field 12: unexpected EOF"},
		{"packed double cut", bytesField(12, make([]byte, 11)), "malformed protobuf in greenhouse.v1.Sample.values: unexpected EOF"},
		{"packed varint truncated", bytesField(12, []byte{0x80}), "malformed protobuf in greenhouse.v1.Sample.values: unexpected EOF"},
		{"unknown field past end", cat(tag(99, protowire.BytesType), []byte{5}), "malformed protobuf in greenhouse.v1.Sample field 99: unexpected EOF"},
		{"unknown high field past end", cat(tag(100000, protowire.BytesType), []byte{5}), "malformed protobuf in greenhouse.v1.Sample field 100000: unexpected EOF"},
		{"group not ended", tag(16, protowire.StartGroupType), "malformed protobuf in greenhouse.v1.Sample field 16: unexpected EOF"},
		{"group end alone", tag(16, protowire.EndGroupType), "malformed protobuf in greenhouse.v1.Sample field 16: proto: mismatching end group marker"},
		{"reserved wire type", []byte{0x0e}, "malformed protobuf in greenhouse.v1.Sample field 1: proto: cannot parse reserved wire type"},
		{"reserved wire type 7", []byte{0x0f}, "malformed protobuf in greenhouse.v1.Sample field 1: proto: cannot parse reserved wire type"},
		{"too deep", deep, "malformed protobuf: nested deeper than 100"},
	}
}

// TestCheckProtoEditions: in an editions file strings must be UTF-8 unless
// their utf8_validation feature is NONE, and the check agrees with the
// decoder on both (for descriptors linked as a manifest links them).
func TestCheckProtoEditions(t *testing.T) {
	src := `edition = "2023";
package ed.v1;
message M {
  string checked = 1;
  string unchecked = 2 [features.utf8_validation = NONE];
}
`
	compiled, err := compileProto("ed/v1/ed.proto", src)
	if err != nil {
		t.Fatal(err)
	}
	file, err := protodesc.NewFile(protodesc.ToFileDescriptorProto(compiled), nil)
	if err != nil {
		t.Fatal(err)
	}
	typ := &codec.Type{Name: "M", Proto: file.Messages().ByName("M")}
	for _, c := range []struct {
		data []byte
		text string // "" for accepted
	}{
		{[]byte{0x0a, 0x01, 0xff}, "malformed protobuf: ed.v1.M.checked is not valid UTF-8"},
		{[]byte{0x12, 0x01, 0xff}, ""},
	} {
		err := checkProtoBoth(t, typ, c.data)
		if (err == nil) != (c.text == "") || err != nil && err.Error() != c.text {
			t.Errorf("%x: CheckProto error = %v, want %q", c.data, err, c.text)
		}
		if uerr := codec.Proto().Unmarshal(c.data, typ, typ.New()); (uerr == nil) != (err == nil) {
			t.Errorf("%x: CheckProto error = %v, Unmarshal error = %v", c.data, err, uerr)
		}
	}
}
