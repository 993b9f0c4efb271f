package codec

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTypeMismatch is matched (with errors.Is) by the errors of codecs given a
// Go value they do not accept, or a protobuf message of another type than
// the [Type]'s.
var ErrTypeMismatch = errors.New("type mismatch")

// ErrNoProto is matched (with errors.Is) by the errors of the proto codec for
// a [Type] that has no protobuf definition.
var ErrNoProto = errors.New("no protobuf definition")

// ErrNoCodec is matched (with errors.Is) by the error of [Set.Negotiate] when
// the set has none of the offered codecs.
var ErrNoCodec = errors.New("no common codec")

// Error is the error of every codec operation that fails.
type Error struct {
	Codec string // the codec's name: "proto", "json" or "raw"
	Type  string // the Type's name; "" when there was no Type
	Path  string // JSON pointer to the failing part of the value (e.g. "/celsius"); "" when unknown or the whole value
	Err   error  // the cause
}

// Error returns text like
//
//	json: type Reading: /celsius: expected number, but got string
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Codec)
	b.WriteString(": ")
	if e.Type != "" {
		b.WriteString("type ")
		b.WriteString(e.Type)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Err == nil {
		b.WriteString("failed")
	} else {
		// The protobuf libraries prefix their errors with "proto: ",
		// which is noise after ours.
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "proto: "))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// newError returns an *Error of codec c for type t.
func newError(c string, t *Type, path string, err error) *Error {
	return &Error{Codec: c, Type: t.name(), Path: path, Err: err}
}

// guard calls check, a decoder or validator named what, and turns a panic in
// it into an error. They should not panic on any input, but protobuf-go
// v1.36's reflection-based decoder (used for dynamicpb messages) does on some
// malformed input: a map entry whose key is repeated with the wrong wire type
// panics in protoreflect.Value.MapKey (found by FuzzProtoUnmarshal, seed
// map_key_wrong_wire_type). Input from the network must not crash the
// process.
func guard(what string, check func() error) (err error) {
	defer recoverError(what, &err)
	return check()
}

// recoverError, deferred by a function that calls a decoder or validator
// named what, recovers a panic in it and stores it in *err as an error.
// guard defers it around a function value; a hot path defers it itself,
// which costs less than making and calling a closure.
func recoverError(what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("malformed input: %s panicked: %v", what, r)
	}
}
