package codec_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ifkit/ifkit/codec"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/; these are more seeds.

// protoSeeds returns binary protobuf seeds for Sample.
func protoSeeds(tb testing.TB) [][]byte {
	typ := types(tb).sample
	valid, err := proto.Marshal(message(tb, typ, sampleText))
	if err != nil {
		tb.Fatal(err)
	}
	deep, err := proto.Marshal(nestedSample(typ, codec.MaxProtoDepth+1))
	if err != nil {
		tb.Fatal(err)
	}
	return [][]byte{
		valid,
		valid[:len(valid)/2],
		deep,
		{0x0a, 0x02, 0xff, 0xfe}, // name = "\xff\xfe"
		protowire.AppendTag(nil, 99, protowire.VarintType), // unknown field, truncated
		{},
	}
}

func FuzzProtoUnmarshal(f *testing.F) {
	for _, seed := range protoSeeds(f) {
		f.Add(seed)
	}
	typ := types(f).sample
	pc, jc := codec.Proto(), codec.JSON()
	f.Fuzz(func(t *testing.T, data []byte) {
		// The receiver's check refuses no more than the decoder (which
		// also refuses what makes dynamic messages' decoder panic).
		checkErr := checkProtoBoth(t, typ, data)
		m := typ.New()
		if err := pc.Unmarshal(data, typ, m); err != nil {
			var ce *codec.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *codec.Error: %v", err)
			}
			return
		}
		if checkErr != nil {
			t.Fatalf("CheckProto refuses what Unmarshal accepts: %v", checkErr)
		}
		b, err := pc.Append(nil, typ, m)
		if err != nil {
			t.Fatalf("Append of an accepted message: %v", err)
		}
		m2 := typ.New()
		if err := pc.Unmarshal(b, typ, m2); err != nil {
			t.Fatalf("Unmarshal of a re-encoded message: %v", err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("re-encoded message differs:\n got %v\nwant %v", m2, m)
		}

		// Across to JSON, which drops unknown fields and refuses what is
		// nested deeper than MaxJSONDepth.
		text, err := jc.Append(nil, typ, m)
		if err != nil {
			if !errors.Is(err, codec.ErrTooDeep) {
				t.Fatalf("json Append of an accepted message: %v", err)
			}
			return
		}
		m3 := typ.New()
		if err := jc.Unmarshal(text, typ, m3); err != nil {
			t.Fatalf("json Unmarshal of %s: %v", text, err)
		}
		known := typ.New()
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, known); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(known, m3) {
			t.Fatalf("message through json differs:\n got %v\nwant %v", m3, known)
		}
	})
}

// jsonSeeds returns JSON seeds.
func jsonSeeds() []string {
	return []string{
		readingText,
		sampleText,
		readingText[:len(readingText)/2],
		`{"probe":"p1","celsius":"hot"}`,
		`[1, 2.50, -0, 1e400, 123456789012345678901234567890, true, null, "\u00e9\ud83d\ude00\ud800"]`,
		`{"a":1,"a":2}`,
		"\"\xff\"",
		string(nested(codec.MaxJSONDepth)),
		string(nested(codec.MaxJSONDepth + 1)),
		strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70),
		`{"forbidden":true}`,
		`{"probe":"p","celsius":1e1000000,"loc":{"row":1e3}}`,
		` 1 `,
		`1 2`,
		``,
	}
}

func FuzzJSONUnmarshal(f *testing.F) {
	for _, seed := range jsonSeeds() {
		f.Add([]byte(seed))
	}
	tt := types(f)
	jc := codec.JSON()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range []*codec.Type{tt.anyJSON, tt.readingSchema} {
			var v any
			errAny := jc.Unmarshal(data, typ, &v)
			var raw json.RawMessage
			errRaw := jc.Unmarshal(data, typ, &raw)
			if (errAny == nil) != (errRaw == nil) {
				t.Fatalf("type %s: into *any: %v; into *json.RawMessage: %v", typ.Name, errAny, errRaw)
			}
			if errAny != nil {
				var ce *codec.Error
				if !errors.As(errAny, &ce) {
					t.Fatalf("error is not a *codec.Error: %v", errAny)
				}
				continue
			}

			// The decoded value re-encodes and decodes to an equal value.
			b, err := jc.Append(nil, typ, v)
			if err != nil {
				t.Fatalf("type %s: Append of an accepted value %#v: %v", typ.Name, v, err)
			}
			var v2 any
			if err := jc.Unmarshal(b, typ, &v2); err != nil {
				t.Fatalf("type %s: Unmarshal of re-encoded %s: %v", typ.Name, b, err)
			}
			if !reflect.DeepEqual(v, v2) {
				t.Fatalf("type %s: re-encoded value differs:\n got %#v\nwant %#v", typ.Name, v2, v)
			}

			// So does the JSON text, compacted on the way.
			b, err = jc.Append(nil, typ, raw)
			if err != nil {
				t.Fatalf("type %s: Append of accepted text %q: %v", typ.Name, raw, err)
			}
			var v3 any
			if err := jc.Unmarshal(b, typ, &v3); err != nil {
				t.Fatalf("type %s: Unmarshal of compacted %q: %v", typ.Name, b, err)
			}
			if !reflect.DeepEqual(v, v3) {
				t.Fatalf("type %s: compacted text differs:\n got %#v\nwant %#v", typ.Name, v3, v)
			}
		}
	})
}

func FuzzJSONUnmarshalProto(f *testing.F) {
	for _, seed := range jsonSeeds() {
		f.Add([]byte(seed))
	}
	typ := types(f).sample
	pc, jc := codec.Proto(), codec.JSON()
	f.Fuzz(func(t *testing.T, data []byte) {
		m := typ.New()
		if err := jc.Unmarshal(data, typ, m); err != nil {
			var ce *codec.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *codec.Error: %v", err)
			}
			return
		}
		text, err := jc.Append(nil, typ, m)
		if err != nil {
			t.Fatalf("Append of an accepted message: %v", err)
		}
		m2 := typ.New()
		if err := jc.Unmarshal(text, typ, m2); err != nil {
			t.Fatalf("Unmarshal of re-encoded %s: %v", text, err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("re-encoded message differs:\n got %v\nwant %v", m2, m)
		}
		bin, err := pc.Append(nil, typ, m)
		if err != nil {
			t.Fatalf("proto Append of an accepted message: %v", err)
		}
		m3 := typ.New()
		if err := pc.Unmarshal(bin, typ, m3); err != nil {
			t.Fatalf("proto Unmarshal: %v", err)
		}
		if !proto.Equal(m, m3) {
			t.Fatalf("message through proto differs:\n got %v\nwant %v", m3, m)
		}
	})
}
