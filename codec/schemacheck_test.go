package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/ifkit/ifkit/codec"
)

// checkSchemas are schemas for the differential tests of the walk that
// checks JSON text against a schema: every keyword it knows, in place and
// nested, and some it leaves to jsonschema.
var checkSchemas = map[string]string{
	"rich": `{
  "$defs": {"pos": {"type": "integer", "minimum": 0}},
  "type": "object",
  "properties": {
    "s": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-zé]"},
    "e": {"enum": ["a", "b\n", true, null]},
    "c": {"const": "x"},
    "n": {"type": "number", "exclusiveMinimum": -1.5, "maximum": 1e3},
    "x": {"exclusiveMaximum": 0.1, "minimum": -1e-300},
    "i": {"$ref": "#/$defs/pos"},
    "arr": {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}, "minItems": 1, "maxItems": 4},
    "o": {"type": "object", "minProperties": 1, "maxProperties": 2, "additionalProperties": false,
          "properties": {"a": true, "b": false}, "patternProperties": {"^x": {"type": "boolean"}, "y$": {"const": true}}},
    "any": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "number"}}]},
    "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]},
    "not": {"not": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}}}},
    "cond": {"if": {"type": "string"}, "then": {"minLength": 3}, "else": {"type": ["integer", "boolean"]}},
    "all": {"allOf": [{"type": ["object", "array"]}, {"minProperties": 1}, {"maxItems": 2}]},
    "f": {"type": "string", "format": "date"},
    "u": {"type": "array", "uniqueItems": true},
    "m": {"multipleOf": 0.5},
    "ne": {"enum": [1, 2.5, "z"]},
    "nested": {"type": "object", "properties": {"deep": {"type": "object", "properties": {"v": {"type": "integer", "maximum": 5}}}}}
  },
  "required": ["s"],
  "additionalProperties": {"type": ["string", "null", "object"]}
}`,
	"reading": readingSchema,
	"any":     anySchema,
	"empty":   `{}`,
	"false":   `false`,
	"items07": `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "array",
    "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": false}`,
	"tree": `{"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}},
    "$ref": "#/$defs/node"}`,
}

// checkSeeds are JSON texts for the differential tests.
var checkSeeds = []string{
	`{"s":"ab"}`,
	`{"s":"a"}`,
	`{"s":"abcdef"}`,
	`{"s":"Ab"}`,
	`{"s":"é\u00e9x"}`,
	`{"s":"\u0061b\n"}`,
	`{"s":"ab","e":"b\n","c":"x","n":-1.4,"x":-1e-300,"i":3}`,
	`{"s":"ab","e":"b\u000a","c":"y"}`,
	`{"s":"ab","n":-1.5}`,
	`{"s":"ab","n":1000.0,"i":2.0e0}`,
	`{"s":"ab","n":1000.0000001}`,
	`{"s":"ab","x":0.1}`,
	`{"s":"ab","x":0.09999999999999999999999}`,
	`{"s":"ab","x":0.10000000000000000001}`,
	`{"s":"ab","i":-0,"arr":["a",1,2e3,30e-1]}`,
	`{"s":"ab","i":1.5}`,
	`{"s":"ab","i":100e-2}`,
	`{"s":"ab","arr":[1]}`,
	`{"s":"ab","arr":["a",1,2,3,4]}`,
	`{"s":"ab","o":{"a":1,"xq":true}}`,
	`{"s":"ab","o":{"b":1}}`,
	`{"s":"ab","o":{}}`,
	`{"s":"ab","o":{"a":1,"a":2}}`,
	`{"s":"ab","o":{"a":1,"a":2,"z":3}}`,
	`{"s":"ab","o":{"xy":true,"q":1}}`,
	`{"s":"ab","o":{"xy":false}}`,
	`{"s":"ab","any":[1,2.5],"one":3,"not":{"k":1},"cond":"abc"}`,
	`{"s":"ab","any":{},"one":12}`,
	`{"s":"ab","not":{"k":"v"}}`,
	`{"s":"ab","not":{"k":"v","k":1}}`,
	`{"s":"ab","not":{"k":1,"k":"v"}}`,
	`{"s":"ab","cond":"ab"}`,
	`{"s":"ab","cond":false,"all":{"a":1}}`,
	`{"s":"ab","all":[1,2,3]}`,
	`{"s":"ab","f":"2024-01-31","u":[1,2],"m":1.5,"ne":2.50}`,
	`{"s":"ab","f":"2024-13-31","u":[1,1],"m":1.2,"ne":3}`,
	`{"s":"ab","nested":{"deep":{"v":5}}}`,
	`{"s":"ab","nested":{"deep":{"v":6}}}`,
	`{"s":"ab","other":"x","more":null,"obj":{}}`,
	`{"s":"ab","other":1}`,
	`{"s":"ab","s":"a"}`,
	`{"s":"a","s":"ab"}`,
	`{"s":"ab",}`,
	`{"s":"ab"} x`,
	`{"s":"ab\u0000"}`,
	`{"s":"\ud83d\ude00b"}`,
	`["a",1]`,
	`["a",1,2]`,
	`["a"]`,
	`[1,"a"]`,
	`{"v":1,"kids":[{"v":2,"kids":[]},{"v":3}]}`,
	`{"v":1,"kids":[{"kids":[]}]}`,
	readingText,
	`{"probe":"","celsius":21.5}`,
	`{"probe":"p","celsius":-300}`,
	`{"probe":"p","celsius":21.5,"atUnixNano":1.0}`,
	`{"probe":"p","celsius":21.5,"atUnixNano":1.5}`,
	`{"forbidden":1}`,
	`[[[[{"a":[1,{"b":null}]}]]]]`,
	string(nested(codec.MaxJSONDepth + 1)), `{"s":"ab","n":1e1001}`, `[1e-1001]`,
	`1`, `-0.0e-0`, `"x"`, `true`, `null`, `[]`, `{}`, ``, ` `, `[`, `{"a"}`, `01`, `1.`, `.5`, `-`, `1e`, `tru`, `nul`,
}

var (
	checkTypesOnce sync.Once
	checkTypesVal  map[string]*codec.Type
	checkTypesErr  error
)

func checkTypes(tb testing.TB) map[string]*codec.Type {
	tb.Helper()
	checkTypesOnce.Do(func() {
		checkTypesVal = map[string]*codec.Type{}
		for name, src := range checkSchemas {
			c := jsonschema.NewCompiler()
			c.Draft = jsonschema.Draft2020
			c.AssertFormat = true
			url := "mem:///" + name + ".json"
			if err := c.AddResource(url, strings.NewReader(src)); err != nil {
				checkTypesErr = err
				return
			}
			s, err := c.Compile(url)
			if err != nil {
				checkTypesErr = err
				return
			}
			checkTypesVal[name] = &codec.Type{Name: name, Schema: s}
		}
	})
	if checkTypesErr != nil {
		tb.Fatal(checkTypesErr)
	}
	return checkTypesVal
}

// slowValid is the rule: encoding/json into an any, then jsonschema.
func slowValid(typ *codec.Type, data []byte) bool {
	v, err := codec.DecodeText(data)
	return err == nil && typ.Schema.Validate(v) == nil
}

// plainJSON reports whether data is the kind of text the walk must be sure
// of: UTF-8 JSON within the codec's limits, with no escapes, no object with
// a duplicate key and none with more than 32 keys.
func plainJSON(data []byte) bool {
	if bytes.IndexByte(data, '\\') >= 0 || codec.CheckText(data) != nil || !json.Valid(data) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var objects []map[string]bool
	expectKey := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			objects = append(objects, map[string]bool{})
			expectKey = true
			continue
		case json.Delim('}'):
			objects = objects[:len(objects)-1]
		case json.Delim('['):
			objects = append(objects, nil)
		case json.Delim(']'):
			objects = objects[:len(objects)-1]
		default:
			if k, ok := tok.(string); ok && expectKey {
				top := objects[len(objects)-1]
				if top[k] || len(top) == 32 {
					return false
				}
				top[k] = true
				expectKey = false
				continue
			}
		}
		expectKey = len(objects) > 0 && objects[len(objects)-1] != nil
	}
}

// checkAgrees holds the walk to the rule for one text: never valid where
// jsonschema refuses, and valid wherever jsonschema accepts text it must be
// sure of.
func checkAgrees(t *testing.T, types map[string]*codec.Type, data []byte) {
	t.Helper()
	if !utf8.Valid(data) {
		return // the codec refuses it before any schema
	}
	limits := codec.CheckText(data) // the walk applies them itself
	for name, typ := range types {
		fast := codec.SchemaValid(typ, data)
		if fast && limits != nil {
			t.Errorf("schema %s: the walk accepts %q, beyond the limits: %v", name, data, limits)
		}
		if limits != nil {
			continue
		}
		slow := slowValid(typ, data)
		if fast && !slow {
			t.Errorf("schema %s: the walk accepts %q, jsonschema does not", name, data)
		}
		if slow && !fast && plainJSON(data) {
			t.Errorf("schema %s: jsonschema accepts %q, the walk is not sure", name, data)
		}
	}
}

func TestSchemaCheckAgrees(t *testing.T) {
	types := checkTypes(t)
	for _, s := range checkSeeds {
		checkAgrees(t, types, []byte(s))
	}
}

// TestSchemaCheckSure checks that the walk is sure of the common valid
// messages, so that the fast path is really taken.
func TestSchemaCheckSure(t *testing.T) {
	types := checkTypes(t)
	for _, tc := range []struct{ schema, text string }{
		{"reading", readingText},
		{"rich", `{"s":"ab","e":"b\n","c":"x","n":-1.4,"i":3,"arr":["a",1],"o":{"a":1},"any":"x","one":10.5,"not":{},"cond":1,"all":{"a":1}}`},
		{"rich", `{"s":"ab","f":"2024-01-31","u":[1,2],"m":1.5,"ne":2.50}`}, // jsonschema's keywords, on their values
		{"tree", `{"v":1,"kids":[{"v":2,"kids":[]},{"v":3}]}`},
		{"any", `{"a":[1,"x",null,{"b":true}]}`},
		{"items07", `["a",1]`},
		{"empty", `{"s":"\u00e9"}`},
	} {
		if !slowValid(types[tc.schema], []byte(tc.text)) {
			t.Fatalf("schema %s: jsonschema refuses %s", tc.schema, tc.text)
		}
		if !codec.SchemaValid(types[tc.schema], []byte(tc.text)) {
			t.Errorf("schema %s: the walk is not sure of %s", tc.schema, tc.text)
		}
	}
}

func FuzzSchemaCheck(f *testing.F) {
	for _, s := range append(checkSeeds, jsonSeeds()...) {
		f.Add([]byte(s))
	}
	types := checkTypes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgrees(t, types, data)
	})
}

// FuzzDecodeAny holds the json codec's decoder into an any to
// encoding/json's: where it is sure, the same value; and sure of all UTF-8
// text within the limits that has no surrogate escape.
func FuzzDecodeAny(f *testing.F) {
	for _, s := range append(checkSeeds, jsonSeeds()...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if codec.CheckText(data) != nil {
			return
		}
		got, sure := codec.DecodeAny(data)
		want, err := codec.DecodeText(data)
		switch {
		case sure && err != nil:
			t.Fatalf("decodeAny takes %q, encoding/json does not: %v", data, err)
		case sure && !reflect.DeepEqual(got, want):
			t.Fatalf("decodeAny(%q) = %#v, encoding/json %#v", data, got, want)
		case !sure && err == nil && !surrogateEscape(data):
			t.Fatalf("decodeAny is not sure of %q, which encoding/json takes", data)
		}
	})
}

// surrogateEscape reports whether data may have a \u escape of a surrogate.
func surrogateEscape(data []byte) bool {
	lower := bytes.ToLower(data)
	return bytes.Contains(lower, []byte(`\ud8`)) || bytes.Contains(lower, []byte(`\ud9`)) ||
		bytes.Contains(lower, []byte(`\uda`)) || bytes.Contains(lower, []byte(`\udb`)) ||
		bytes.Contains(lower, []byte(`\udc`)) || bytes.Contains(lower, []byte(`\udd`)) ||
		bytes.Contains(lower, []byte(`\ude`)) || bytes.Contains(lower, []byte(`\udf`))
}

// TestSchemaPlanShared checks that goroutines sharing a Type may build its
// plan at once (run with -race), and that a Type given another schema
// checks against the new one.
func TestSchemaPlanShared(t *testing.T) {
	types := checkTypes(t)
	typ := &codec.Type{Name: "T", Schema: types["reading"].Schema}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var v json.RawMessage
			if err := codec.JSON().Unmarshal([]byte(readingText), typ, &v); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	typ.Schema = types["false"].Schema
	if codec.SchemaValid(typ, []byte(readingText)) {
		t.Error("the walk still checks against the old schema")
	}
	var v json.RawMessage
	if err := codec.JSON().Unmarshal([]byte(readingText), typ, &v); err == nil {
		t.Error("Unmarshal accepts a value the schema false refuses")
	}
}
