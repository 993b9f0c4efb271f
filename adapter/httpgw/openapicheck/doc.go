// Package openapicheck validates the OpenAPI documents adapter/httpgw
// serves with a standard validator (pb33f/libopenapi-validator). It is a
// module of its own, as bench/ is, so that the validator's dependencies stay
// out of ifkit's go.mod; run it with
//
//	(cd adapter/httpgw/openapicheck && go test ./...)
package openapicheck
