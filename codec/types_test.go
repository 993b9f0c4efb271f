package codec_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
)

// The test types are compiled at test time, the way the manifest package
// compiles an interface's .proto files and schemas.

const greenhouseProto = `
syntax = "proto3";
package greenhouse.v1;

message Location {
  string site = 1;
  int32 row = 2;
}

message Reading {
  string probe = 1;
  double celsius = 2;
  int64 at_unix_nano = 3;
  repeated string tags = 4;
  Location loc = 5;
}

enum Kind {
  KIND_UNSPECIFIED = 0;
  KIND_LEAF = 1;
  KIND_BRANCH = 2;
}

// Sample has a field of every shape, and recurses, for fuzzing.
message Sample {
  string name = 1;
  bytes blob = 2;
  float f32 = 3;
  double f64 = 4;
  sint64 s64 = 5;
  fixed32 fx32 = 6;
  uint64 u64 = 7;
  bool ok = 8;
  Kind kind = 9;
  optional int32 maybe = 10;
  map<string, int32> counts = 11;
  repeated double values = 12;
  oneof choice {
    string text = 13;
    Location where = 14;
  }
  repeated Sample children = 15;
}
`

const readingSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "probe": {"type": "string", "minLength": 1},
    "celsius": {"type": "number", "minimum": -273.15},
    "atUnixNano": {"type": ["string", "integer"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "loc": {
      "type": "object",
      "properties": {"site": {"type": "string"}, "row": {"type": "integer"}}
    }
  },
  "required": ["probe", "celsius"]
}`

// Any JSON, for fuzzing the schema path with something permissive but real.
const anySchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$defs": {"v": {"anyOf": [
    {"type": ["null", "boolean", "number", "string"]},
    {"type": "array", "items": {"$ref": "#/$defs/v"}},
    {"type": "object", "additionalProperties": {"$ref": "#/$defs/v"}}
  ]}},
  "$ref": "#/$defs/v",
  "not": {"type": "object", "required": ["forbidden"]}
}`

type testTypes struct {
	reading       *codec.Type // proto and schema
	readingProto  *codec.Type // proto only
	readingSchema *codec.Type // schema only
	location      *codec.Type
	sample        *codec.Type // proto only
	anyJSON       *codec.Type // schema only
	duration      *codec.Type // a generated Go type
	bytesValue    *codec.Type // google.protobuf.BytesValue with its own descriptor, as a manifest has it
}

var (
	typesOnce sync.Once
	typesVal  *testTypes
	typesErr  error
)

// types returns the test types, compiled once per test binary.
func types(tb testing.TB) *testTypes {
	tb.Helper()
	typesOnce.Do(func() { typesVal, typesErr = compileTypes() })
	if typesErr != nil {
		tb.Fatal(typesErr)
	}
	return typesVal
}

func compileTypes() (*testTypes, error) {
	file, err := compileProto("greenhouse/v1/greenhouse.proto", greenhouseProto)
	if err != nil {
		return nil, err
	}
	readingSch, err := compileSchema("reading.json", readingSchema)
	if err != nil {
		return nil, err
	}
	anySch, err := compileSchema("any.json", anySchema)
	if err != nil {
		return nil, err
	}
	// A manifest links the well-known files it uses into descriptors of its
	// own, other than the generated types' (which have the same full names).
	wrappers, err := protodesc.NewFile(protodesc.ToFileDescriptorProto(wrapperspb.File_google_protobuf_wrappers_proto), nil)
	if err != nil {
		return nil, err
	}
	msg := func(name protoreflect.Name) protoreflect.MessageDescriptor { return file.Messages().ByName(name) }
	return &testTypes{
		reading:       &codec.Type{Name: "Reading", Proto: msg("Reading"), Schema: readingSch},
		readingProto:  &codec.Type{Name: "Reading", Proto: msg("Reading")},
		readingSchema: &codec.Type{Name: "Reading", Schema: readingSch},
		location:      &codec.Type{Name: "Location", Proto: msg("Location")},
		sample:        &codec.Type{Name: "Sample", Proto: msg("Sample")},
		anyJSON:       &codec.Type{Name: "Any", Schema: anySch},
		duration:      &codec.Type{Name: "Duration", Proto: (&durationpb.Duration{}).ProtoReflect().Descriptor()},
		bytesValue:    &codec.Type{Name: "Blob", Proto: wrappers.Messages().ByName("BytesValue")},
	}, nil
}

// compileProto compiles one .proto file from source.
func compileProto(path, src string) (protoreflect.FileDescriptor, error) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{path: src}),
		}),
	}
	files, err := c.Compile(context.Background(), path)
	if err != nil {
		return nil, err
	}
	return files[0], nil
}

// compileSchema compiles one JSON Schema (draft 2020-12) from source.
func compileSchema(url, src string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(url, strings.NewReader(src)); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// message returns a new dynamic message of t filled from protojson text.
func message(tb testing.TB, t *codec.Type, text string) proto.Message {
	tb.Helper()
	m := t.New()
	if err := protojson.Unmarshal([]byte(text), m); err != nil {
		tb.Fatalf("protojson %s: %v", text, err)
	}
	return m
}

const readingText = `{"probe":"p1","celsius":21.5,"atUnixNano":"1700000000000000000","tags":["north","bed-3"],"loc":{"site":"greenhouse-2","row":7}}`
