// Package httpfwd is the reverse of package httpgw: an ifkit interface in
// front of an HTTP service. Each Request message a client sends (the shape
// of the http.api example manifest: method, path, headers, body) is made as
// an HTTP request to the upstream, and its answer comes back as the
// Request's Response: status, headers, body.
//
//	f, err := httpfwd.New(m, "http://127.0.0.1:8080")
//	srv.Register(f.Interface())
//	defer f.Close()
//
// Requests on one connection overlap (each runs on its own, up to a bound,
// so a slow one holds up no other); each is bounded by a timeout; bodies
// are bounded by the manifest's flow.max_message_bytes both ways. The
// upstream's failures come back as Responses with a gateway status and the
// ifkit code in the ifkit-code header, never as a hang: 504 canceled when it
// does not answer in time, 502 transport_error when it cannot be reached,
// 502 message_too_large when its answer is over the limit.
package httpfwd
