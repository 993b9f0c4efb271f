package codec_test

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
)

// Every benchmark reuses its dst buffer or target, as the data
// sub-interface does.

func benchAppend(b *testing.B, c codec.Codec, t *codec.Type, v any) {
	b.Helper()
	dst, err := c.Append(nil, t, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dst, err = c.Append(dst[:0], t, v)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchUnmarshal(b *testing.B, c codec.Codec, t *codec.Type, data []byte, v any) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Unmarshal(data, t, v); err != nil {
			b.Fatal(err)
		}
	}
}

func encode(b *testing.B, c codec.Codec, t *codec.Type, v any) []byte {
	b.Helper()
	data, err := c.Append(nil, t, v)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkProtoAppend(b *testing.B) {
	tt := types(b)
	b.Run("generated", func(b *testing.B) {
		benchAppend(b, codec.Proto(), tt.duration, durationpb.New(90*time.Second+5*time.Millisecond))
	})
	b.Run("dynamic", func(b *testing.B) {
		benchAppend(b, codec.Proto(), tt.readingProto, message(b, tt.readingProto, readingText))
	})
}

func BenchmarkProtoUnmarshal(b *testing.B) {
	tt := types(b)
	b.Run("generated", func(b *testing.B) {
		data := encode(b, codec.Proto(), tt.duration, durationpb.New(90*time.Second+5*time.Millisecond))
		benchUnmarshal(b, codec.Proto(), tt.duration, data, new(durationpb.Duration))
	})
	b.Run("dynamic", func(b *testing.B) {
		data := encode(b, codec.Proto(), tt.readingProto, message(b, tt.readingProto, readingText))
		benchUnmarshal(b, codec.Proto(), tt.readingProto, data, tt.readingProto.New())
	})
}

// bytesValues returns a BytesValue type as a manifest has it (its own
// descriptor, compiled from source, not the generated type's) and 64 B and
// 1 KiB BytesValues: the bench's ifkit-proto messages.
func bytesValues(b *testing.B) (*codec.Type, map[string]*wrapperspb.BytesValue) {
	b.Helper()
	return types(b).bytesValue, map[string]*wrapperspb.BytesValue{
		"64B":  wrapperspb.Bytes(make([]byte, 64)),
		"1KiB": wrapperspb.Bytes(make([]byte, 1024)),
	}
}

func BenchmarkProtoAppendBytesValue(b *testing.B) {
	typ, values := bytesValues(b)
	for _, size := range []string{"64B", "1KiB"} {
		b.Run(size, func(b *testing.B) { benchAppend(b, codec.Proto(), typ, values[size]) })
	}
}

func BenchmarkProtoUnmarshalBytesValue(b *testing.B) {
	typ, values := bytesValues(b)
	for _, size := range []string{"64B", "1KiB"} {
		b.Run(size, func(b *testing.B) {
			benchUnmarshal(b, codec.Proto(), typ, encode(b, codec.Proto(), typ, values[size]), new(wrapperspb.BytesValue))
		})
	}
}

// BenchmarkCheckProtoBytesValue is the receiver's check of every message,
// against the manifest's descriptor.
func BenchmarkCheckProtoBytesValue(b *testing.B) {
	typ, values := bytesValues(b)
	for _, size := range []string{"64B", "1KiB"} {
		data := encode(b, codec.Proto(), typ, values[size])
		b.Run(size, func(b *testing.B) {
			benchCheck(b, data, func() error { return codec.CheckProto(data, typ.Proto) })
		})
		b.Run("type/"+size, func(b *testing.B) {
			benchCheck(b, data, func() error { return codec.CheckProtoType(data, typ) })
		})
	}
}

// BenchmarkCheckProtoReading checks a message with strings, a repeated
// string and a nested message.
func BenchmarkCheckProtoReading(b *testing.B) {
	typ := types(b).readingProto
	data := encode(b, codec.Proto(), typ, message(b, typ, readingText))
	b.Run("descriptor", func(b *testing.B) {
		benchCheck(b, data, func() error { return codec.CheckProto(data, typ.Proto) })
	})
	b.Run("type", func(b *testing.B) {
		benchCheck(b, data, func() error { return codec.CheckProtoType(data, typ) })
	})
}

func benchCheck(b *testing.B, data []byte, check func() error) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := check(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONAppend(b *testing.B) {
	tt := types(b)
	b.Run("proto", func(b *testing.B) {
		benchAppend(b, codec.JSON(), tt.readingProto, message(b, tt.readingProto, readingText))
	})
	b.Run("proto+schema", func(b *testing.B) {
		benchAppend(b, codec.JSON(), tt.reading, message(b, tt.reading, readingText))
	})
	b.Run("schema/raw", func(b *testing.B) {
		benchAppend(b, codec.JSON(), tt.readingSchema, json.RawMessage(readingText))
	})
	b.Run("schema/struct", func(b *testing.B) {
		benchAppend(b, codec.JSON(), tt.readingSchema, reading{Probe: "p1", Celsius: 21.5, Tags: []string{"north"}})
	})
	b.Run("untyped/raw", func(b *testing.B) {
		benchAppend(b, codec.JSON(), nil, json.RawMessage(readingText))
	})
	b.Run("bytesvalue/64B", func(b *testing.B) {
		typ, values := bytesValues(b)
		benchAppend(b, codec.JSON(), typ, values["64B"])
	})
}

func BenchmarkJSONUnmarshal(b *testing.B) {
	tt := types(b)
	data := []byte(readingText)
	b.Run("proto", func(b *testing.B) {
		benchUnmarshal(b, codec.JSON(), tt.readingProto, data, tt.readingProto.New())
	})
	b.Run("proto+schema", func(b *testing.B) {
		benchUnmarshal(b, codec.JSON(), tt.reading, data, tt.reading.New())
	})
	// The receive check: the text is checked against the protobuf type
	// and kept as it is.
	b.Run("proto/raw", func(b *testing.B) {
		var v []byte
		benchUnmarshal(b, codec.JSON(), tt.readingProto, data, &v)
	})
	b.Run("bytesvalue/64B", func(b *testing.B) {
		typ, values := bytesValues(b)
		benchUnmarshal(b, codec.JSON(), typ, encode(b, codec.JSON(), typ, values["64B"]), new(wrapperspb.BytesValue))
	})
	b.Run("bytesvalue/raw", func(b *testing.B) {
		typ := &codec.Type{Name: "Blob", Proto: (&wrapperspb.BytesValue{}).ProtoReflect().Descriptor()}
		var v []byte
		benchUnmarshal(b, codec.JSON(), typ, encode(b, codec.JSON(), typ, wrapperspb.Bytes(make([]byte, 64))), &v)
	})
	b.Run("schema/any", func(b *testing.B) {
		var v any
		benchUnmarshal(b, codec.JSON(), tt.readingSchema, data, &v)
	})
	b.Run("schema/raw", func(b *testing.B) {
		var v json.RawMessage
		benchUnmarshal(b, codec.JSON(), tt.readingSchema, data, &v)
	})
	b.Run("schema/struct", func(b *testing.B) {
		var v reading
		benchUnmarshal(b, codec.JSON(), tt.readingSchema, data, &v)
	})
	b.Run("untyped/raw", func(b *testing.B) {
		var v json.RawMessage
		benchUnmarshal(b, codec.JSON(), nil, data, &v)
	})
}

func BenchmarkRawAppend(b *testing.B) {
	benchAppend(b, codec.Raw(), nil, []byte(readingText))
}

func BenchmarkRawUnmarshal(b *testing.B) {
	var v []byte
	benchUnmarshal(b, codec.Raw(), nil, []byte(readingText), &v)
}

// TestProtoAppendNoAllocs holds the proto codec to zero allocations for a
// small generated message appended into a reused buffer.
func TestProtoAppendNoAllocs(t *testing.T) {
	typ := types(t).duration
	c := codec.Proto()
	var m proto.Message = durationpb.New(90*time.Second + 5*time.Millisecond)
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		dst, err = c.Append(dst[:0], typ, m)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Append allocates %v times per message, want 0", allocs)
	}
}
