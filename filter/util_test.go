package filter_test

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func jsonUnmarshal(m proto.Message, s string) error { return protojson.Unmarshal([]byte(s), m) }
