package httpfwd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds one upstream request when neither WithTimeout
	// nor the manifest's metadata.timeout_seconds says otherwise.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxInFlight bounds the upstream requests under way at once;
	// past it, a connection's next request waits (and its credit with it).
	DefaultMaxInFlight = 64
)

// The message type names of the http.api shape.
const (
	RequestType  = "Request"
	ResponseType = "Response"
)

// CodeHeader is the response header that carries the ifkit code of a
// failure the forwarder answered itself (the upstream did not).
const CodeHeader = "ifkit-code"

// Request is the message a client sends: one HTTP request. Header names
// are lower-case; a header may repeat.
type Request struct {
	Method       string              `json:"method"`
	Path         string              `json:"path"`
	Headers      map[string][]string `json:"headers,omitempty"`
	Body         string              `json:"body,omitempty"`
	BodyEncoding string              `json:"body_encoding,omitempty"` // "utf8" (default) or "base64"
}

// Response answers one Request.
type Response struct {
	Status       int                 `json:"status"`
	Headers      map[string][]string `json:"headers,omitempty"`
	Body         string              `json:"body,omitempty"`
	BodyEncoding string              `json:"body_encoding,omitempty"`
}

// Option configures a Forwarder.
type Option interface{ apply(*Forwarder) }

type optionFunc func(*Forwarder)

func (f optionFunc) apply(fw *Forwarder) { f(fw) }

// WithTimeout bounds each upstream request, from sending it to having the
// whole answer.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(f *Forwarder) {
		if d > 0 {
			f.timeout = d
		}
	})
}

// WithClient makes the upstream requests with c (its Transport, TLS,
// proxies). Redirects are never followed: they are the upstream's answer.
func WithClient(c *http.Client) Option {
	return optionFunc(func(f *Forwarder) {
		if c != nil {
			cc := *c
			f.client = &cc
		}
	})
}

// WithMaxInFlight bounds the upstream requests under way at once.
func WithMaxInFlight(n int) Option {
	return optionFunc(func(f *Forwarder) {
		if n > 0 {
			f.slots = make(chan struct{}, n)
		}
	})
}

// Forwarder serves an http.api-shaped interface by forwarding to an
// upstream HTTP service.
type Forwarder struct {
	m        *manifest.Manifest
	upstream *url.URL
	client   *http.Client
	timeout  time.Duration
	slots    chan struct{}

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // requests under way
}

// New returns a forwarder for m (which must have a Request type answered
// by one Response, as the http.api example) to upstream, a base URL
// ("http://127.0.0.1:8080", "https://api.example/v1"); "" takes the
// manifest's metadata.upstream. metadata.timeout_seconds, when set, is the
// default timeout.
func New(m *manifest.Manifest, upstream string, opts ...Option) (*Forwarder, error) {
	t, ok := m.Type(RequestType)
	if !ok || t.Direction != manifest.Recv || t.Reply == nil || t.Reply.Stream || t.Reply.Type != ResponseType {
		return nil, fmt.Errorf("httpfwd: %s: needs a recv type %s answered by one %s (see the http.api example manifest)", m.Name, RequestType, ResponseType)
	}
	if upstream == "" {
		upstream, _ = m.Metadata["upstream"].(string)
	}
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("httpfwd: %s: the upstream %q is not an http:// or https:// URL (give one, or metadata.upstream in the manifest)", m.Name, upstream)
	}
	f := &Forwarder{m: m, upstream: u, client: &http.Client{}, timeout: DefaultTimeout, slots: make(chan struct{}, DefaultMaxInFlight)}
	if s, ok := m.Metadata["timeout_seconds"].(float64); ok && s > 0 {
		f.timeout = time.Duration(s * float64(time.Second))
	}
	for _, o := range opts {
		o.apply(f)
	}
	f.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f, nil
}

// Interface returns what to register on an iface.Server.
func (f *Forwarder) Interface() iface.Interface {
	return iface.Interface{Manifest: f.m, Handlers: map[string]iface.Handler{RequestType: f.handle}}
}

// Close cancels the upstream requests under way (their Responses say so)
// and returns once they have ended.
func (f *Forwarder) Close() error {
	f.cancel()
	f.wg.Wait()
	return nil
}

// handle starts forwarding one Request and returns, so that the
// connection's next request does not wait for this one; it waits only for
// a free slot.
func (f *Forwarder) handle(ctx context.Context, msg *iface.Message) error {
	var req Request
	if err := msg.Decode(&req); err != nil {
		return err
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-f.ctx.Done():
		return errors.New("httpfwd: closing")
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.slots }()
		rctx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		stop := context.AfterFunc(f.ctx, cancel)
		defer stop()
		res := f.forward(rctx, &req)
		msg.Reply(ctx, res) // fails only when the connection has ended
	}()
	return nil
}

// hopByHop are the headers that belong to one hop (RFC 9110 §7.6.1), and
// those the transport sets itself: none is forwarded either way.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "proxy-authenticate": true,
	"proxy-authorization": true, "te": true, "trailer": true, "transfer-encoding": true, "upgrade": true,
	"host": true, "content-length": true,
}

// forward makes req upstream and returns its answer, or the Response that
// says why there is none.
func (f *Forwarder) forward(ctx context.Context, req *Request) *Response {
	target, err := f.target(req.Path)
	if err != nil {
		return failure(http.StatusBadRequest, codes.InvalidMessage, err.Error())
	}
	body := []byte(req.Body)
	if req.BodyEncoding == "base64" {
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return failure(http.StatusBadRequest, codes.InvalidMessage, "body_encoding is base64, but the body is not: "+err.Error())
		}
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return failure(http.StatusBadRequest, codes.InvalidMessage, err.Error())
	}
	for name, values := range req.Headers {
		if hopByHop[strings.ToLower(name)] {
			continue
		}
		for _, v := range values {
			hr.Header.Add(name, v)
		}
	}
	if len(body) == 0 {
		hr.Body, hr.ContentLength = http.NoBody, 0
	}
	res, err := f.client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return failure(http.StatusGatewayTimeout, codes.Canceled, fmt.Sprintf("the upstream did not answer within %s", f.timeout))
		}
		return failure(http.StatusBadGateway, codes.TransportError, "the upstream cannot be reached: "+err.Error())
	}
	defer res.Body.Close()
	max := f.m.Flow.MaxMessageBytes
	data, err := io.ReadAll(io.LimitReader(res.Body, int64(max)+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return failure(http.StatusGatewayTimeout, codes.Canceled, fmt.Sprintf("the upstream did not finish its answer within %s", f.timeout))
	case err != nil:
		return failure(http.StatusBadGateway, codes.TransportError, "reading the upstream's answer: "+err.Error())
	case len(data) > max:
		return failure(http.StatusBadGateway, codes.MessageTooLarge, fmt.Sprintf("the upstream's answer is over %d bytes, the interface's flow.max_message_bytes", max))
	}
	out := &Response{Status: res.StatusCode, Headers: map[string][]string{}}
	for name, values := range res.Header {
		if n := strings.ToLower(name); !hopByHop[n] {
			out.Headers[n] = values
		}
	}
	if len(out.Headers) == 0 {
		out.Headers = nil
	}
	if utf8.Valid(data) {
		out.Body = string(data)
	} else {
		out.Body, out.BodyEncoding = base64.StdEncoding.EncodeToString(data), "base64"
	}
	if enc, _ := json.Marshal(out); len(enc) > max {
		return failure(http.StatusBadGateway, codes.MessageTooLarge, fmt.Sprintf("the upstream's answer is %d bytes as a Response, over the interface's flow.max_message_bytes (%d)", len(enc), max))
	}
	return out
}

// target is the upstream URL of a request's path and query, which stays
// on the upstream's host and under its base path.
func (f *Forwarder) target(path string) (*url.URL, error) {
	ref, err := url.Parse(path)
	if err != nil || ref.Scheme != "" || ref.Host != "" || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return nil, fmt.Errorf("path %q: give a path and query, as in a request line: /v1/zones?active=true", path)
	}
	u := *f.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + ref.Path
	u.RawPath = ""
	if ref.RawPath != "" {
		u.RawPath = strings.TrimSuffix(f.upstream.EscapedPath(), "/") + ref.RawPath
	}
	u.RawQuery = ref.RawQuery
	u.Fragment = ""
	return &u, nil
}

// failure is the Response the forwarder answers with itself.
func failure(status int, code codes.Code, msg string) *Response {
	return &Response{
		Status:  status,
		Headers: map[string][]string{"content-type": {"text/plain; charset=utf-8"}, CodeHeader: {code.String()}},
		Body:    code.String() + ": " + msg,
	}
}
