package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ifkit/ifkit/codec"
)

// A Type as the manifest package builds it: from a .proto file compiled at
// load time, and a JSON Schema.
func exampleReadingType() *codec.Type {
	const src = `syntax = "proto3";
package greenhouse.v1;
message Reading {
  string probe = 1;
  double celsius = 2;
}`
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{"reading.proto": src}),
		}),
	}
	files, err := compiler.Compile(context.Background(), "reading.proto")
	if err != nil {
		panic(err)
	}
	schemas := jsonschema.NewCompiler()
	schemas.Draft = jsonschema.Draft2020
	if err := schemas.AddResource("reading.json", strings.NewReader(`{
		"type": "object",
		"properties": {"probe": {"type": "string"}, "celsius": {"type": "number"}},
		"required": ["probe", "celsius"]
	}`)); err != nil {
		panic(err)
	}
	schema, err := schemas.Compile("reading.json")
	if err != nil {
		panic(err)
	}
	return &codec.Type{
		Name:   "Reading",
		Proto:  files[0].Messages().ByName("Reading"),
		Schema: schema,
	}
}

// The json codec takes JSON text, checks it against the type's schema, and
// decodes it into a dynamic message of the type's protobuf definition; the
// proto codec carries the same message in binary.
func Example() {
	reading := exampleReadingType()
	jc, pc := codec.JSON(), codec.Proto()

	msg := reading.New()
	if err := jc.Unmarshal([]byte(`{"probe": "p1", "celsius": 21.5}`), reading, msg); err != nil {
		panic(err)
	}
	bin, err := pc.Append(nil, reading, msg)
	if err != nil {
		panic(err)
	}
	fmt.Println("proto:", len(bin), "bytes")

	back := reading.New()
	if err := pc.Unmarshal(bin, reading, back); err != nil {
		panic(err)
	}
	text, err := jc.Append(nil, reading, back)
	if err != nil {
		panic(err)
	}
	fmt.Printf("json: %s\n", text)
	// Output:
	// proto: 13 bytes
	// json: {"probe":"p1","celsius":21.5}
}

// Schema failures name the failing field.
func ExampleJSON_schemaError() {
	reading := exampleReadingType()
	_, err := codec.JSON().Append(nil, reading, json.RawMessage(`{"probe": "p1", "celsius": "hot"}`))
	fmt.Println(err)

	var ce *codec.Error
	if errors.As(err, &ce) {
		fmt.Println("field:", ce.Path)
	}
	// Output:
	// json: type Reading: /celsius: expected number, but got string
	// field: /celsius
}

// The json codec encodes plain Go values with encoding/json, and decodes
// into them.
func ExampleJSON_goValues() {
	reading := exampleReadingType()
	type Reading struct {
		Probe   string  `json:"probe"`
		Celsius float64 `json:"celsius"`
	}
	jc := codec.JSON()
	text, err := jc.Append(nil, reading, Reading{Probe: "p1", Celsius: 21.5})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", text)

	var v any
	if err := jc.Unmarshal(text, reading, &v); err != nil {
		panic(err)
	}
	fmt.Println(v)
	// Output:
	// {"probe":"p1","celsius":21.5}
	// map[celsius:21.5 probe:p1]
}

// The proto codec takes generated Go types as well as dynamic messages.
func ExampleProto() {
	d := durationpb.New(1500 * time.Millisecond)
	typ := &codec.Type{Name: "Timeout", Proto: d.ProtoReflect().Descriptor()}

	pc := codec.Proto()
	buf := make([]byte, 0, 64) // reuse buf across messages: Append then does not allocate
	buf, err := pc.Append(buf[:0], typ, d)
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", buf)

	var out durationpb.Duration
	if err := pc.Unmarshal(buf, typ, &out); err != nil {
		panic(err)
	}
	fmt.Println(out.AsDuration())

	_, err = pc.Append(nil, typ, "1.5s")
	fmt.Println(errors.Is(err, codec.ErrTypeMismatch))
	// Output:
	// 08 01 10 80 ca b5 ee 01
	// 1.5s
	// true
}

// Two peers agree on a codec: the first the client offers that the server has.
func ExampleSet_Negotiate() {
	server := codec.Standard()
	c, err := server.Negotiate([]string{"cbor", "json", "proto"})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Name())

	_, err = codec.NewSet(codec.Proto()).Negotiate([]string{"json"})
	fmt.Println(err)
	// Output:
	// json
	// codec: no common codec: offered ["json"], supported ["proto"]
}

// A receiver checks a JSON body against its type before it accepts the
// message, without decoding or copying it.
func ExampleCheckJSON() {
	d := durationpb.New(0)
	typ := &codec.Type{Name: "Timeout", Proto: d.ProtoReflect().Descriptor()}
	fmt.Println(codec.CheckJSON([]byte(`"1.5s"`), typ))
	fmt.Println(codec.CheckJSON([]byte(`"soon"`), typ) != nil)
	// Output:
	// <nil>
	// true
}
