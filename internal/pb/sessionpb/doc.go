// Package sessionpb is the generated Go code of spec/ifkit/session/v1/session.proto:
// the stream handshake messages. Regenerate with go run ./internal/protogen.
package sessionpb
