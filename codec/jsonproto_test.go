package codec_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
)

// The one-pass check of JSON against a protobuf type (codec.ProtoJSONValid)
// may answer "sure" only for text protojson accepts; when it is not sure the
// json codec asks protojson. These tests hold it to both: it is sure of the
// common shapes (so the fast path is taken), and never of what protojson
// refuses.

func protoJSONDescs(tb testing.TB) map[string]protoreflect.MessageDescriptor {
	tt := types(tb)
	return map[string]protoreflect.MessageDescriptor{
		"Sample":     tt.sample.Proto,
		"Reading":    tt.readingProto.Proto,
		"BytesValue": (&wrapperspb.BytesValue{}).ProtoReflect().Descriptor(),
		"Int64Value": (&wrapperspb.Int64Value{}).ProtoReflect().Descriptor(),
		"FloatValue": (&wrapperspb.FloatValue{}).ProtoReflect().Descriptor(),
		"Struct":     (&structpb.Struct{}).ProtoReflect().Descriptor(),
	}
}

// protojsonAccepts reports whether protojson takes text into a message of md.
func protojsonAccepts(text []byte, md protoreflect.MessageDescriptor) error {
	return protojson.UnmarshalOptions{RecursionLimit: codec.MaxProtoDepth}.Unmarshal(text, dynamicpb.NewMessage(md))
}

func TestProtoJSONValidSure(t *testing.T) {
	descs := protoJSONDescs(t)
	for _, tc := range []struct{ typ, text string }{
		{"Sample", sampleText},
		{"Sample", ` { } `},
		{"Sample", "{\"name\":\"0123456789abcdef\x7f\xc3\xa9 0123456789~\"}"}, // no false control characters
		{"Sample", `{"name":"tab\tquote\" \u00e9 \\ \/ \n"}`},
		{"Sample", `{"blob":"-_8"}`},            // URL alphabet, unpadded
		{"Sample", `{"blob":"AA=="}`},           // padded
		{"Sample", `{"blob":""}`},               // empty
		{"Sample", `{"blob":"AAA"}`},            // unpadded, len%4 = 3
		{"Sample", `{"counts":{"1":1,"01":2}}`}, // string keys: distinct
		{"Sample", `{"f32":3.4e38,"f64":1e308}`},
		{"Sample", `{"s64":-9223372036854775808,"u64":18446744073709551615}`},
		{"Sample", `{"fx32":"4294967295","kind":2,"maybe":-1}`},
		{"Sample", `{"kind":"KIND_LEAF","text":"t"}`},
		{"Sample", `{"where":null,"text":"only one oneof member is set; null is not set"}`},
		{"Sample", `{"counts":{"a":1,"b":2,"":3},"values":[],"children":[]}`},
		{"Sample", `{"children":[{"children":[{"name":"deep"}]}]}`},
		{"Sample", `{"f64":"Infinity","f32":"NaN"}`},
		{"Reading", readingText},
		{"Reading", `{"probe":"p","at_unix_nano":"5"}`}, // the .proto name
		{"BytesValue", `"AAECAwQFBgcICQoLDA0ODw=="`},
		{"Int64Value", `"-42"`},
		{"Int64Value", ` 42 `},
		{"FloatValue", `-0.5e-3`},
	} {
		text := []byte(tc.text)
		if err := protojsonAccepts(text, descs[tc.typ]); err != nil {
			t.Fatalf("%s %s: protojson refuses the test's input: %v", tc.typ, tc.text, err)
		}
		if !codec.ProtoJSONValid(text, descs[tc.typ]) {
			t.Errorf("%s %s: not sure, want sure (the fast path is not taken)", tc.typ, tc.text)
		}
	}
}

func TestProtoJSONValidNotSure(t *testing.T) {
	descs := protoJSONDescs(t)
	for _, tc := range []struct {
		typ, text string
		valid     bool // protojson accepts it: left to protojson all the same
	}{
		{"Sample", `{"name":"a","name":"b"}`, false},                       // duplicate field
		{"Sample", `{"name":"a", "NAME":"b"}`, false},                      // unknown field
		{"Sample", `{"text":"a","where":{}}`, false},                       // two members of a oneof
		{"Sample", `{"counts":{"a":1,"a":2}}`, false},                      // duplicate map key
		{"Sample", `{"blob":"A"}`, false},                                  // len%4 = 1
		{"Sample", `{"blob":"A==="}`, false},                               // too much padding
		{"Sample", `{"blob":"AA=A"}`, false},                               // padding inside
		{"Sample", `{"blob":"+-"}`, false},                                 // mixed alphabets
		{"Sample", `{"blob":"AAAAAAAAAAAA*AAA"}`, false},                   // a byte outside both alphabets, word-wise
		{"Sample", `{"blob":"AAAAAAAA-AAAAAA+"}`, false},                   // mixed alphabets, word-wise
		{"Sample", `{"blob":"AA\u003d\u003d"}`, true},                      // escaped: not sure
		{"Sample", `{"f32":3.5e38}`, false},                                // float32 overflow
		{"Sample", `{"f64":"1.5"}`, true},                                  // a number as a string: not sure
		{"Sample", `{"fx32":4294967296}`, false},                           // uint32 overflow
		{"Sample", `{"fx32":-1}`, false},                                   // negative unsigned
		{"Sample", `{"maybe":1.0}`, true},                                  // integral fraction: not sure
		{"Sample", `{"maybe":1e2}`, true},                                  // exponent: not sure
		{"Sample", `{"maybe":01}`, false},                                  // leading zero
		{"Sample", `{"maybe":-0}`, true},                                   // -0: not sure
		{"Sample", `{"kind":"KIND_NONE"}`, false},                          // unknown enum name
		{"Sample", `{"kind":2147483648}`, false},                           // enum beyond int32
		{"Sample", `{"ok":1}`, false},                                      // not a bool
		{"Sample", `{"name":"\ud800"}`, false},                             // lone surrogate
		{"Sample", `{"name":"\ud83d\ude00"}`, true},                        // surrogate pair: not sure
		{"Sample", "{\"name\":\"a\tb\"}", false},                           // control character
		{"Sample", "{\"name\":\"0123456789abcdef\x1f0123456789\"}", false}, // a control character word-wise
		{"Sample", "{\"name\":\"01234567\x7f\xc3\xa9\x00\"}", false},       // DEL and é pass, NUL does not
		{"Sample", `{"name":"a",}`, false},                                 // trailing comma
		{"Sample", `{"values":[1,null]}`, false},                           // null element
		{"Sample", `{"values":[1 2]}`, false},                              // missing comma
		{"Sample", `{} {}`, false},                                         // two values
		{"Sample", `[]`, false},                                            // not an object
		{"Sample", `{"[ext.field]":1}`, false},                             // extension syntax
		{"Sample", `{"na\u006de":"x"}`, true},                              // escaped name: not sure
		{"BytesValue", `null`, false},                                      // a wrapper is its value
		{"BytesValue", `{"value":"AA=="}`, false},                          // not the wrapper's form
		{"Int64Value", `9223372036854775808`, false},                       // int64 overflow
		{"Int64Value", `" 42"`, false},                                     // spaces in a quoted number
		{"Struct", `{"a":1}`, true},                                        // other well-known types: not sure
		{"Sample", `{"f64":1e-1001}`, true},                                // beyond the codec's exponent limit
		{"Sample", deepSample, true},                                       // beyond MaxJSONDepth
	} {
		text := []byte(tc.text)
		err := protojsonAccepts(text, descs[tc.typ])
		if (err == nil) != tc.valid {
			t.Fatalf("%s %s: protojson says %v; the test says valid = %v", tc.typ, tc.text, err, tc.valid)
		}
		if codec.ProtoJSONValid(text, descs[tc.typ]) {
			t.Errorf("%s %s: sure, want not sure", tc.typ, tc.text)
		}
	}
}

// deepSample is a Sample nested (children in children) to a JSON depth of
// MaxJSONDepth+2, which protojson takes and the json codec does not.
var deepSample = strings.Repeat(`{"children":[`, codec.MaxJSONDepth/2+1) + strings.Repeat("]}", codec.MaxJSONDepth/2+1)

// TestJSONProtoLimits: the one-pass paths keep the codec's own limits on
// depth and exponents, which protojson does not have.
func TestJSONProtoLimits(t *testing.T) {
	typ := types(t).sample
	for _, text := range []string{deepSample, `{"f64":1e-1001}`, `{"values":[1,2E+1001]}`} {
		var raw []byte
		if err := codec.JSON().Unmarshal([]byte(text), typ, &raw); err == nil {
			t.Errorf("check of %.40s…: accepted", text)
		}
		if err := codec.JSON().Unmarshal([]byte(text), typ, typ.New()); err == nil {
			t.Errorf("decode of %.40s…: accepted", text)
		}
	}
	var raw []byte
	if err := codec.JSON().Unmarshal([]byte(deepSample), typ, &raw); !errors.Is(err, codec.ErrTooDeep) {
		t.Errorf("check of a deep Sample: %v, want ErrTooDeep", err)
	}
}

// TestJSONProtoCheckErrors: the fast path changes no verdict and no error of
// the receive check (JSON into *[]byte against a proto type).
func TestJSONProtoCheckErrors(t *testing.T) {
	typ := types(t).sample
	for _, text := range []string{`{"name":"a","name":"b"}`, `{"blob":"A"}`, `{"kind":"KIND_NONE"}`, `{"f32":3.5e38}`} {
		var raw []byte
		err := codec.JSON().Unmarshal([]byte(text), typ, &raw)
		if err == nil {
			t.Fatalf("%s: accepted", text)
		}
		want := protojsonAccepts([]byte(text), typ.Proto)
		if ce, ok := err.(*codec.Error); !ok || ce.Err == nil || ce.Err.Error() != want.Error() {
			t.Errorf("%s: error %v, want protojson's %v", text, err, want)
		}
	}
}

// FuzzProtoJSONValid: whatever ProtoJSONValid is sure of, protojson accepts
// and the codec's limits (checkText) allow; ProtoJSONDecode is sure of the
// same and decodes what protojson does; ProtoJSONAppend encodes that back.
func FuzzProtoJSONValid(f *testing.F) {
	for _, seed := range jsonSeeds() {
		f.Add([]byte(seed))
	}
	for _, seed := range []string{
		`"AAECAwQFBgcICQoLDA0ODw=="`, `"-_8"`, `"A="`, `"18446744073709551615"`, `-0.5e-3`,
		`{"counts":{"a":1,"b":2}}`, `{"kind":"KIND_LEAF","maybe":-1,"text":"t"}`,
	} {
		f.Add([]byte(seed))
	}
	descs := protoJSONDescs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return // the codec refuses it before either check runs
		}
		for name, md := range descs {
			sure := codec.ProtoJSONValid(data, md)
			got := dynamicpb.NewMessage(md)
			if decoded := codec.ProtoJSONDecode(data, got, got); decoded != sure {
				t.Fatalf("%s %q: ProtoJSONValid says %v, ProtoJSONDecode %v", name, data, sure, decoded)
			}
			if !sure {
				continue
			}
			if err := codec.CheckText(data); err != nil {
				t.Fatalf("%s: sure of %q, beyond the codec's limits: %v", name, data, err)
			}
			want := dynamicpb.NewMessage(md)
			if err := protojson.Unmarshal(data, want); err != nil {
				t.Fatalf("%s: sure of %q, which protojson refuses: %v", name, data, err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("%s %q: decoded in one pass\n%v\nby protojson\n%v", name, data, got, want)
			}
			// What it decoded, it encodes to text protojson decodes back.
			text, ok := codec.ProtoJSONAppend(nil, got)
			if !ok {
				continue // not sure (a map, say): protojson encodes it
			}
			back := dynamicpb.NewMessage(md)
			if err := protojson.Unmarshal(text, back); err != nil {
				t.Fatalf("%s: %q encoded in one pass as %q, which protojson refuses: %v", name, data, text, err)
			}
			if !proto.Equal(back, got) {
				t.Fatalf("%s: %q encoded in one pass as %q, which decodes to\n%v\nnot\n%v", name, data, text, back, got)
			}
		}
	})
}

// TestProtoJSONDecode: the one-pass decode stores what protojson would, into
// dynamic and generated messages, and leaves to protojson what it is not
// sure of (the json codec's Unmarshal then gives protojson's result).
func TestProtoJSONDecode(t *testing.T) {
	tt := types(t)
	for _, tc := range []struct {
		typ  *codec.Type
		text string
		new  func() proto.Message
	}{
		{tt.sample, sampleText, tt.sample.New},
		{tt.sample, `{"name":"a\u00e9\n\"","blob":"-_8","maybe":0,"counts":{"z":0},"children":[{},{"kind":1}]}`, tt.sample.New},
		{tt.readingProto, readingText, tt.readingProto.New},
		{&codec.Type{Name: "Blob", Proto: (&wrapperspb.BytesValue{}).ProtoReflect().Descriptor()}, `"AAEC"`, func() proto.Message { return new(wrapperspb.BytesValue) }},
		{&codec.Type{Name: "N", Proto: (&wrapperspb.Int64Value{}).ProtoReflect().Descriptor()}, `"-7"`, func() proto.Message { return new(wrapperspb.Int64Value) }},
		{tt.sample, `{"maybe":1e2,"f64":"1.5"}`, tt.sample.New}, // not sure: protojson decodes it
	} {
		want := tc.new()
		if err := protojson.Unmarshal([]byte(tc.text), want); err != nil {
			t.Fatalf("%s: protojson: %v", tc.text, err)
		}
		got := tc.new()
		proto.Merge(got, want) // Unmarshal must reset it first
		if err := codec.JSON().Unmarshal([]byte(tc.text), tc.typ, got); err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: got\n%v\nwant\n%v", tc.text, got, want)
		}
	}
}

// TestProtoJSONAppend: the one-pass encoder writes text that decodes back to
// the message, with the zero values protojson's EmitDefaultValues writes, and
// leaves to protojson what it is not sure of.
func TestProtoJSONAppend(t *testing.T) {
	tt := types(t)
	for _, tc := range []struct {
		typ  *codec.Type
		text string
		want string // "" when the text must be left to protojson
	}{
		{tt.readingProto, readingText, `{"probe":"p1","celsius":21.5,"atUnixNano":"1700000000000000000","tags":["north","bed-3"],"loc":{"site":"greenhouse-2","row":7}}`},
		{tt.readingProto, `{}`, `{"probe":"","celsius":0,"atUnixNano":"0","tags":[]}`},
		{tt.sample, `{"name":"q\"\\\n\u0001","f32":"NaN","f64":-1e300,"kind":7,"text":"t","children":[{"maybe":0}]}`,
			`{"name":"q\"\\\n\u0001","blob":"","f32":"NaN","f64":-1e+300,"s64":"0","fx32":0,"u64":"0","ok":false,"kind":7,"counts":{},"values":[],"text":"t","children":[{"name":"","blob":"","f32":0,"f64":0,"s64":"0","fx32":0,"u64":"0","ok":false,"kind":"KIND_UNSPECIFIED","maybe":0,"counts":{},"values":[],"children":[]}]}`},
		{tt.sample, `{"counts":{"a":1}}`, ""}, // protojson sorts map keys
	} {
		m := tc.typ.New()
		if err := protojson.Unmarshal([]byte(tc.text), m); err != nil {
			t.Fatal(err)
		}
		got, ok := codec.ProtoJSONAppend(nil, m.ProtoReflect())
		if tc.want == "" {
			if ok {
				t.Errorf("%s: sure (%s), want it left to protojson", tc.text, got)
			}
			continue
		}
		if !ok || string(got) != tc.want {
			t.Errorf("%s: got %s (sure %v)\nwant %s", tc.text, got, ok, tc.want)
		}
		back := tc.typ.New()
		if err := protojson.Unmarshal(got, back); err != nil || !proto.Equal(back, m) {
			t.Errorf("%s: %s decodes to %v (%v), want %v", tc.text, got, back, err, m)
		}
	}

	// A proto3 string that is not UTF-8 is protojson's error, not sent.
	m := tt.sample.New()
	m.ProtoReflect().Set(tt.sample.Proto.Fields().ByName("name"), protoreflect.ValueOfString("\xff"))
	if _, ok := codec.ProtoJSONAppend(nil, m.ProtoReflect()); ok {
		t.Error("sure of a string that is not UTF-8")
	}
	if _, err := codec.JSON().Append(nil, tt.sample, m); err == nil {
		t.Error("Append of a string that is not UTF-8: no error")
	}
}
