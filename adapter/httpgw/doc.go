// Package httpgw puts the interfaces of an ifkit server on HTTP, with no
// code generation and no configuration beyond an address: its routes come
// from the live manifests and follow the server's control notifications
// (interfaces registered, unregistered or changed).
//
// For an interface NAME the gateway serves
//
//	GET  /                       the index of interfaces, as JSON
//	GET  /NAME                   the interface's summary and routes
//	GET  /NAME/manifest          its canonical manifest (ETag: the manifest hash)
//	GET  /NAME/openapi.json      an OpenAPI 3.1 document of its HTTP routes
//	GET  /NAME/asyncapi.json     an AsyncAPI 3.0 document of its streams
//	GET  /NAME/stream            what the server sends: NDJSON, Server-Sent
//	                             Events (Accept: text/event-stream) or a
//	                             WebSocket (which also carries messages to a
//	                             server that receives, and {"control": OP}
//	                             for the stream's own connection: stats,
//	                             pause, resume, filter)
//	POST /NAME/TYPE              a message the server receives: the reply as
//	                             JSON for a request type, the replies as NDJSON
//	                             or SSE for a request/stream type, and for a
//	                             one-way type one JSON value or NDJSON lines,
//	                             each sent as it is read
//	POST /NAME/TYPE?validate     the value checked as the POST would check
//	                             it (the server's codec and schema code),
//	                             nothing sent: {"valid":true} or the error
//	GET  /_events                the server's connections and interfaces as
//	                             they change: a snapshot (open connections,
//	                             the last that ended with their reasons),
//	                             then each event, as NDJSON or SSE
//
// JSON Schema types appear in the documents as the manifest has them and
// protobuf types through their JSON mapping (protojson), which is also what
// the routes take and give.
//
// Flow control reaches through the gateway: a stream is read from the ifkit
// server in pull mode, one credit granted for each message the HTTP client
// has taken, so a client that stops reading stops the sender, and the
// gateway holds at most a credit window of messages per stream; a POST of
// NDJSON lines reads the next line only when the previous one had credit.
//
// Errors are one JSON shape, {"error":{"code":"invalid_message","status":400,
// "message":"…","pointer":"/celsius"}}, whose code is the ifkit code and
// whose status comes from one table (see Status).
//
// The gateway is an ifkit client: New takes a Dialer, so TLS, shared secrets
// and address lists are whatever the Dialer does. When the session ends the
// gateway answers 502 and dials again.
package httpgw
