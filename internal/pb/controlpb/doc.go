// Package controlpb is the generated Go code of spec/ifkit/control/v1/control.proto:
// the control sub-interface messages. Regenerate with go run ./internal/protogen.
package controlpb
