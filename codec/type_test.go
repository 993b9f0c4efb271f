package codec_test

import (
	"testing"

	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ifkit/ifkit/codec"
)

func TestTypeNew(t *testing.T) {
	typ := types(t).reading
	m := typ.New()
	if _, ok := m.(*dynamicpb.Message); !ok {
		t.Fatalf("New() = %T, want *dynamicpb.Message", m)
	}
	if got := m.ProtoReflect().Descriptor().FullName(); got != "greenhouse.v1.Reading" {
		t.Errorf("New() is a %s", got)
	}
	if m2 := typ.New(); m2 == m {
		t.Error("New returned the same message twice")
	}
	if m := types(t).readingSchema.New(); m != nil {
		t.Errorf("New() of a type without proto = %v, want nil", m)
	}
	var nilType *codec.Type
	if m := nilType.New(); m != nil {
		t.Errorf("New() of a nil type = %v, want nil", m)
	}
}
