package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
)

func TestJSONName(t *testing.T) {
	if got := codec.JSON().Name(); got != "json" {
		t.Errorf("Name() = %q, want json", got)
	}
}

// decodeAny decodes JSON text the way the tests compare JSON: as values.
func decodeAny(tb testing.TB, b []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// TestProtoJSONCrossDecoding encodes with one codec, decodes, and re-encodes
// with the other, for dynamic and generated messages; the messages must stay
// equal all the way.
func TestProtoJSONCrossDecoding(t *testing.T) {
	tt := types(t)
	cases := []struct {
		name string
		typ  *codec.Type
		in   proto.Message
		out  func() proto.Message
	}{
		{"dynamic with schema", tt.reading, message(t, tt.reading, readingText), tt.reading.New},
		{"dynamic", tt.readingProto, message(t, tt.readingProto, readingText), tt.readingProto.New},
		{"dynamic zero values", tt.readingProto, message(t, tt.readingProto, `{}`), tt.readingProto.New},
		{"dynamic sample", tt.sample, message(t, tt.sample, sampleText), tt.sample.New},
		{"generated", tt.duration, durationpb.New(1500 * time.Millisecond), func() proto.Message { return new(durationpb.Duration) }},
	}
	pc, jc := codec.Proto(), codec.JSON()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin, err := pc.Append(nil, c.typ, c.in)
			if err != nil {
				t.Fatalf("proto Append: %v", err)
			}
			fromBin := c.out()
			if err := pc.Unmarshal(bin, c.typ, fromBin); err != nil {
				t.Fatalf("proto Unmarshal: %v", err)
			}
			text, err := jc.Append(nil, c.typ, fromBin)
			if err != nil {
				t.Fatalf("json Append: %v", err)
			}
			fromText := c.out()
			if err := jc.Unmarshal(text, c.typ, fromText); err != nil {
				t.Fatalf("json Unmarshal %s: %v", text, err)
			}
			if !proto.Equal(c.in, fromText) {
				t.Errorf("proto → json: got %v, want %v", fromText, c.in)
			}
			bin2, err := pc.Append(nil, c.typ, fromText)
			if err != nil {
				t.Fatalf("proto Append: %v", err)
			}
			back := c.out()
			if err := pc.Unmarshal(bin2, c.typ, back); err != nil {
				t.Fatalf("proto Unmarshal: %v", err)
			}
			if !proto.Equal(c.in, back) {
				t.Errorf("json → proto: got %v, want %v", back, c.in)
			}
		})
	}
}

const sampleText = `{"name":"s","blob":"AAEC","f32":1.5,"f64":-2.25,"s64":"-9","fx32":7,"u64":"18446744073709551615",
"ok":true,"kind":"KIND_BRANCH","maybe":0,"counts":{"a":1,"b":-2},"values":[1,2.5,"NaN","-Infinity"],
"where":{"site":"x"},"children":[{"name":"c1","text":"hi"},{"children":[{}]}]}`

type reading struct {
	Probe   string   `json:"probe"`
	Celsius float64  `json:"celsius"`
	Tags    []string `json:"tags,omitempty"`
}

// TestJSONAppendKinds appends each accepted kind of value and checks the
// JSON value that comes out.
func TestJSONAppendKinds(t *testing.T) {
	tt := types(t)
	want := map[string]any{"probe": "p1", "celsius": json.Number("21.5")}
	cases := []struct {
		name string
		typ  *codec.Type
		v    any
		want any
	}{
		{"proto message", tt.reading, message(t, tt.reading, `{"probe":"p1","celsius":21.5}`),
			map[string]any{"probe": "p1", "celsius": json.Number("21.5"), "atUnixNano": "0", "tags": []any{}}},
		{"raw message", tt.reading, json.RawMessage(`{"probe": "p1",  "celsius": 21.5}`), want},
		{"bytes", tt.readingSchema, []byte("\n{\"probe\" : \"p1\",\n \"celsius\":21.5}\n"), want},
		{"bytes proto only", tt.readingProto, []byte(`{"probe":"p1","celsius":21.5}`), want},
		{"map", tt.reading, map[string]any{"probe": "p1", "celsius": 21.5}, want},
		{"struct", tt.reading, reading{Probe: "p1", Celsius: 21.5}, want},
		{"struct proto only", tt.readingProto, &reading{Probe: "p1", Celsius: 21.5}, want},
		{"string without type", nil, "a b", "a b"},
		{"nil without type", nil, nil, nil},
		{"spaces in strings kept", nil, []byte(`[ "a \" b" , "\\" ]`), []any{`a " b`, `\`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("prefix")
			b, err := codec.JSON().Append(dst, c.typ, c.v)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("Append lost dst's contents: %q", b)
			}
			b = b[len("prefix"):]
			if got := decodeAny(t, b); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Append = %s, want the value %#v", b, c.want)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, b); err != nil || !bytes.Equal(compact.Bytes(), b) {
				t.Errorf("Append = %q, not compact", b)
			}
		})
	}
}

// TestJSONUnmarshalKinds decodes into each accepted kind of value.
func TestJSONUnmarshalKinds(t *testing.T) {
	tt := types(t)
	c := codec.JSON()
	data := []byte(`{"probe":"p1","celsius":21.5,"tags":["a"]}`)

	t.Run("proto message", func(t *testing.T) {
		m := tt.reading.New()
		if err := c.Unmarshal(data, tt.reading, m); err != nil {
			t.Fatal(err)
		}
		if want := message(t, tt.reading, string(data)); !proto.Equal(m, want) {
			t.Errorf("got %v, want %v", m, want)
		}
	})
	t.Run("generated message", func(t *testing.T) {
		var d durationpb.Duration
		if err := c.Unmarshal([]byte(`"3.5s"`), tt.duration, &d); err != nil {
			t.Fatal(err)
		}
		if d.AsDuration() != 3500*time.Millisecond {
			t.Errorf("got %v, want 3.5s", d.AsDuration())
		}
	})
	t.Run("raw message is a copy", func(t *testing.T) {
		in := bytes.Clone(data)
		raw := make(json.RawMessage, 0, 100)
		if err := c.Unmarshal(in, tt.reading, &raw); err != nil {
			t.Fatal(err)
		}
		in[2] = 'X'
		if !bytes.Equal(raw, data) {
			t.Errorf("got %s, want %s", raw, data)
		}
		if cap(raw) != 100 {
			t.Errorf("Unmarshal did not reuse the RawMessage's capacity")
		}
	})
	t.Run("bytes are JSON text", func(t *testing.T) {
		var b []byte
		if err := c.Unmarshal(data, tt.readingProto, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, data) {
			t.Errorf("got %s, want %s", b, data)
		}
	})
	t.Run("any", func(t *testing.T) {
		var v any
		if err := c.Unmarshal(data, tt.reading, &v); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"probe": "p1", "celsius": json.Number("21.5"), "tags": []any{"a"}}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("got %#v, want %#v", v, want)
		}
	})
	t.Run("struct", func(t *testing.T) {
		var r reading
		if err := c.Unmarshal(data, tt.readingSchema, &r); err != nil {
			t.Fatal(err)
		}
		if want := (reading{"p1", 21.5, []string{"a"}}); !reflect.DeepEqual(r, want) {
			t.Errorf("got %+v, want %+v", r, want)
		}
	})
	t.Run("struct field type error has a path", func(t *testing.T) {
		var r struct {
			Loc struct {
				Row int `json:"row"`
			} `json:"loc"`
		}
		err := c.Unmarshal([]byte(`{"loc":{"row":"seven"}}`), nil, &r)
		var ce *codec.Error
		if !errors.As(err, &ce) || ce.Path != "/loc/row" {
			t.Errorf("error = %v, want a *codec.Error with path /loc/row", err)
		}
	})
}

// TestJSONSchemaFailureNamesField checks that schema failures name the
// failing field, when encoding and when decoding.
func TestJSONSchemaFailureNamesField(t *testing.T) {
	tt := types(t)
	cases := []struct {
		name    string
		data    string
		path    string
		message string
	}{
		{"wrong type", `{"probe":"p1","celsius":"hot"}`, "/celsius",
			"json: type Reading: /celsius: expected number, but got string"},
		{"nested", `{"probe":"p1","celsius":1,"loc":{"row":1.5}}`, "/loc/row",
			"json: type Reading: /loc/row: expected integer, but got number"},
		{"array item", `{"probe":"p1","celsius":1,"tags":["a",2]}`, "/tags/1",
			"json: type Reading: /tags/1: expected string, but got number"},
		{"minimum", `{"probe":"p1","celsius":-300}`, "/celsius",
			"json: type Reading: /celsius: must be >= -273.15 but found -300"},
		{"required", `{"probe":"p1"}`, "",
			"json: type Reading: missing properties: 'celsius'"},
	}
	c := codec.JSON()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				var ce *codec.Error
				if !errors.As(err, &ce) {
					t.Fatalf("%s: error = %v, want *codec.Error", op, err)
				}
				if ce.Path != tc.path {
					t.Errorf("%s: Path = %q, want %q", op, ce.Path, tc.path)
				}
				if err.Error() != tc.message {
					t.Errorf("%s: error = %q, want %q", op, err, tc.message)
				}
				var ve *jsonschema.ValidationError
				if !errors.As(err, &ve) {
					t.Errorf("%s: error does not keep the *jsonschema.ValidationError", op)
				}
			}
			_, err := c.Append(nil, tt.reading, json.RawMessage(tc.data))
			check("Append raw", err)
			var m map[string]any
			if err := json.Unmarshal([]byte(tc.data), &m); err != nil {
				t.Fatal(err)
			}
			_, err = c.Append(nil, tt.readingSchema, m)
			check("Append map", err)
			var v any
			check("Unmarshal any", c.Unmarshal([]byte(tc.data), tt.reading, &v))
			check("Unmarshal proto", c.Unmarshal([]byte(tc.data), tt.reading, tt.reading.New()))
		})
	}

	// A message that protobuf accepts but the schema does not.
	_, err := c.Append(nil, tt.reading, message(t, tt.reading, `{"celsius":1}`))
	var ce *codec.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "probe") {
		t.Errorf("Append proto message failing the schema: error = %v, want it to name probe", err)
	}
}

// TestJSONProtoValidation checks JSON against the protobuf definition when
// the type has no schema.
func TestJSONProtoValidation(t *testing.T) {
	tt := types(t)
	c := codec.JSON()
	for name, data := range map[string]string{
		"wrong type":    `{"probe":"p1","celsius":"hot"}`,
		"unknown field": `{"probe":"p1","humidity":3}`,
		"not an object": `[1,2]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Append(nil, tt.readingProto, json.RawMessage(data)); err == nil {
				t.Error("Append accepted it")
			}
			var v any
			if err := c.Unmarshal([]byte(data), tt.readingProto, &v); err == nil {
				t.Error("Unmarshal into any accepted it")
			}
			var r json.RawMessage
			if err := c.Unmarshal([]byte(data), tt.readingProto, &r); err == nil {
				t.Error("Unmarshal into RawMessage accepted it")
			}
			if err := c.Unmarshal([]byte(data), tt.readingProto, tt.readingProto.New()); err == nil {
				t.Error("Unmarshal into message accepted it")
			}
		})
	}
}

// nested returns JSON text of depth nested arrays.
func nested(depth int) []byte {
	return []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))
}

// TestJSONRejects checks the input that is not one JSON value of the type.
func TestJSONRejects(t *testing.T) {
	tt := types(t)
	cases := []struct {
		name string
		typ  *codec.Type
		data []byte
		is   error
	}{
		{"empty", nil, nil, nil},
		{"empty with schema", tt.anyJSON, []byte("  "), nil},
		{"trailing data", nil, []byte(`{} {}`), nil},
		{"trailing data with schema", tt.anyJSON, []byte(`1 2`), nil},
		{"trailing bracket", tt.anyJSON, []byte(`[1]]`), nil},
		{"syntax", nil, []byte(`{"a":}`), nil},
		{"syntax with schema", tt.anyJSON, []byte(`{"a" 1}`), nil},
		{"truncated", tt.anyJSON, []byte(`{"a":[1,2`), nil},
		{"invalid UTF-8", nil, []byte("\"\xff\""), nil},
		{"invalid UTF-8 with schema", tt.anyJSON, []byte("[\"ok\",\"\xc3\x28\"]"), nil},
		{"too deep", nil, nested(codec.MaxJSONDepth + 1), codec.ErrTooDeep},
		{"too deep with schema", tt.anyJSON, nested(codec.MaxJSONDepth + 1), codec.ErrTooDeep},
		{"too deep objects", tt.readingProto, []byte(strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)), codec.ErrTooDeep},
		{"hostile depth", tt.anyJSON, nested(10_000_000), codec.ErrTooDeep},
		{"hostile unterminated", tt.anyJSON, bytes.Repeat([]byte("["), 10_000_000), codec.ErrTooDeep},
		{"schema not", tt.anyJSON, []byte(`{"forbidden":1}`), nil},
		// Exact number checks cost time growing with the exponent, and
		// jsonschema v5 panics beyond 1e6.
		{"huge exponent", tt.readingSchema, []byte(`{"probe":"p","celsius":1e1000000}`), nil},
		{"huge negative exponent", tt.anyJSON, []byte(`[1E-99999999999999999999999]`), nil},
		{"huge exponent in message", tt.readingProto, []byte(`{"celsius":1e+1001}`), nil},
	}
	c := codec.JSON()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				var ce *codec.Error
				if !errors.As(err, &ce) || ce.Codec != "json" {
					t.Errorf("%s: error = %v, want a *codec.Error of json", op, err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("%s: error = %v, want %v", op, err, tc.is)
				}
			}
			dst := []byte("x")
			got, err := c.Append(dst, tc.typ, json.RawMessage(tc.data))
			check("Append", err)
			if string(got) != "x" {
				t.Errorf("failed Append returned %q, want dst unchanged", got)
			}
			var v any
			check("Unmarshal any", c.Unmarshal(tc.data, tc.typ, &v))
			var raw json.RawMessage
			check("Unmarshal raw", c.Unmarshal(tc.data, tc.typ, &raw))
			var s struct{}
			check("Unmarshal struct", c.Unmarshal(tc.data, tc.typ, &s))
		})
	}
}

func TestJSONLimits(t *testing.T) {
	c := codec.JSON()
	ok := nested(codec.MaxJSONDepth)
	var v any
	if err := c.Unmarshal(ok, types(t).anyJSON, &v); err != nil {
		t.Errorf("Unmarshal at MaxJSONDepth: %v", err)
	}
	if _, err := c.Append(nil, nil, v); err != nil {
		t.Errorf("Append at MaxJSONDepth: %v", err)
	}
	for _, ok := range []string{`[1e1000, -2.5E-1000, 1e+0999, true, false, "1e99999"]`, `{"e":"E"}`} {
		if err := c.Unmarshal([]byte(ok), types(t).anyJSON, &v); err != nil {
			t.Errorf("Unmarshal %s: %v", ok, err)
		}
	}
	// Brackets inside strings do not count.
	inString := []byte(`["` + strings.Repeat("[{", 1000) + `\"` + `"]`)
	if err := c.Unmarshal(inString, nil, &v); err != nil {
		t.Errorf("Unmarshal of brackets in a string: %v", err)
	}
	// A Go value too deep to decode is refused when encoding too.
	deep := any("leaf")
	for range codec.MaxJSONDepth + 1 {
		deep = []any{deep}
	}
	if _, err := c.Append(nil, nil, deep); !errors.Is(err, codec.ErrTooDeep) {
		t.Errorf("Append of a too deep value: error = %v, want ErrTooDeep", err)
	}
	if _, err := c.Append(nil, types(t).sample, nestedSample(types(t).sample, 40)); !errors.Is(err, codec.ErrTooDeep) {
		t.Errorf("Append of a too deep message: error = %v, want ErrTooDeep", err)
	}
}

func TestJSONWrongType(t *testing.T) {
	tt := types(t)
	c := codec.JSON()
	data := []byte(`{"probe":"p1","celsius":1}`)
	var notPointer reading
	var nilAny *any
	var nilRaw *json.RawMessage
	cases := []struct {
		name string
		err  func() error
	}{
		{"append other message", func() error {
			_, err := c.Append(nil, tt.reading, wrapperspb.Int32(1))
			return err
		}},
		{"append channel", func() error {
			_, err := c.Append(nil, tt.reading, make(chan int))
			return err
		}},
		{"unmarshal into other message", func() error { return c.Unmarshal(data, tt.reading, tt.location.New()) }},
		{"unmarshal into non-pointer", func() error { return c.Unmarshal(data, tt.reading, notPointer) }},
		{"unmarshal into nil", func() error { return c.Unmarshal(data, tt.reading, nil) }},
		{"unmarshal into nil *any", func() error { return c.Unmarshal(data, tt.reading, nilAny) }},
		{"unmarshal into nil *RawMessage", func() error { return c.Unmarshal(data, tt.reading, nilRaw) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if !errors.Is(err, codec.ErrTypeMismatch) {
				t.Errorf("error = %v, want ErrTypeMismatch", err)
			}
		})
	}
	_, err := c.Append(nil, tt.reading, wrapperspb.Int32(1))
	for _, s := range []string{"google.protobuf.Int32Value", "greenhouse.v1.Reading"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}
