package pbio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, firstChunk - 1, firstChunk, 3*firstChunk + 7} {
		var buf bytes.Buffer
		in := wrapperspb.Bytes(bytes.Repeat([]byte{'x'}, size))
		if err := Write(&buf, in); err != nil {
			t.Fatal(err)
		}
		out := &wrapperspb.BytesValue{}
		if err := Read(bufio.NewReader(&buf), out, 1<<20); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !proto.Equal(in, out) {
			t.Fatalf("size %d: read back something else", size)
		}
	}
}

func TestLengthIsBoundedBeforeReading(t *testing.T) {
	prefix := binary.AppendUvarint(nil, 1<<30)
	err := Read(bufio.NewReader(bytes.NewReader(prefix)), &wrapperspb.BytesValue{}, 1<<20)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// A length prefix alone reserves at most firstChunk: the buffer grows only
// as bytes arrive.
func TestAllocationFollowsArrivingBytes(t *testing.T) {
	prefix := binary.AppendUvarint(nil, 32<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := bufio.NewReader(io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(make([]byte, 10))))
	if err := Read(r, &wrapperspb.BytesValue{}, 32<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*firstChunk {
		t.Fatalf("a 32 MiB length prefix followed by 10 bytes allocated %d bytes; want at most about %d", got, firstChunk)
	}
}
func TestMalformed(t *testing.T) {
	for name, in := range map[string][]byte{
		"over-long varint": bytes.Repeat([]byte{0xff}, 11),
		"bad protobuf":     {2, 0xff, 0xff},
	} {
		err := Read(bufio.NewReader(bytes.NewReader(in)), &wrapperspb.BytesValue{}, 1<<20)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, wrapperspb.Bytes([]byte("hello")))
	f.Add(buf.Bytes())
	f.Add(binary.AppendUvarint(nil, 1<<40))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &wrapperspb.BytesValue{}
		if err := Read(bufio.NewReader(bytes.NewReader(b)), m, 1<<16); err == nil {
			var again bytes.Buffer
			if err := Write(&again, m); err != nil {
				t.Fatal(err)
			}
		}
	})
}
