// Package lab serves the lab bench: a web page for every interface of an
// ifkit server, on top of the HTTP gateway (package httpgw), which carries
// every message the page sends or shows.
//
// The page lists the server's interfaces as they come and go; shows each
// one's documentation from its live manifest (its Markdown rendered here,
// without raw HTML); builds a form for each type the server receives from
// the type's schema (JSON Schema, or a protobuf message's JSON mapping),
// pre-filled from the examples and checked as the user types by the same
// code the server runs (the gateway's ?validate); sends messages and
// makes calls, showing a stream's replies as they arrive; tails what the
// server sends over a WebSocket with a filter, pause and resume, a bounded
// history, the stream's credit window and a plot of a numeric field; and
// monitors the server's connections, with each one's end reason.
//
// Everything the page uses is embedded in the binary: nothing is fetched
// from elsewhere at run time. A Lab serves
//
//	GET  /                 the page
//	GET  /assets/...       its script and style sheet
//	GET  /api/docs/NAME    an interface's Markdown descriptions, as HTML
//	     /gw/...           the gateway (package httpgw) under /gw
//
// With WithSecret every request needs the secret: a page signs in by
// POST /login (the form it shows), which sets a cookie derived from the
// secret, never the secret itself; scripts may send
// "Authorization: Bearer SECRET".
package lab
