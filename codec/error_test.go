package codec_test

import (
	"errors"
	"io"
	"testing"

	"github.com/ifkit/ifkit/codec"
)

func TestErrorText(t *testing.T) {
	cases := []struct {
		err  *codec.Error
		want string
	}{
		{&codec.Error{Codec: "json", Type: "Reading", Path: "/celsius", Err: errors.New("expected number, but got string")},
			"json: type Reading: /celsius: expected number, but got string"},
		{&codec.Error{Codec: "json", Type: "Reading", Err: io.ErrUnexpectedEOF},
			"json: type Reading: unexpected EOF"},
		{&codec.Error{Codec: "raw", Err: codec.ErrTypeMismatch}, "raw: type mismatch"},
		{&codec.Error{Codec: "proto", Type: "Reading", Err: errors.New("proto: cannot parse invalid wire-format data")},
			"proto: type Reading: cannot parse invalid wire-format data"},
		{&codec.Error{Codec: "proto"}, "proto: failed"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	err := error(&codec.Error{Codec: "json", Err: io.ErrUnexpectedEOF})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not find the cause")
	}
}
