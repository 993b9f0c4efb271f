package httpgw

import (
	"log/slog"
	"time"

	"github.com/ifkit/ifkit/codec"
)

// Defaults of the options.
const (
	// DefaultStreamCredits is the credit window of a stream through the
	// gateway: how many messages the server may send ahead of what the
	// HTTP client has read. The gateway holds at most this many messages
	// per stream.
	DefaultStreamCredits = 16
	// DefaultCallTimeout bounds a request/reply call through the gateway.
	DefaultCallTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds one write of a stream to the HTTP client:
	// a client that takes nothing for this long is cut off.
	DefaultWriteTimeout = time.Minute
	// DefaultRedialBackoff is the first wait before dialling again once the
	// session to the server has ended; it doubles up to MaxRedialBackoff.
	DefaultRedialBackoff = 200 * time.Millisecond
	// MaxRedialBackoff bounds the wait between two dials.
	MaxRedialBackoff = 10 * time.Second
	// maxIdle bounds the idle connections kept per interface for
	// request/reply calls.
	maxIdle = 32
	// controlTimeout bounds one control request the gateway makes (list,
	// manifest) to follow the server's interfaces.
	controlTimeout = 10 * time.Second
)

// Option configures a Gateway.
type Option interface{ apply(*options) }

type options struct {
	credits       int
	callTimeout   time.Duration
	writeTimeout  time.Duration
	redialBackoff time.Duration
	base          string
	codecs        []string
	origins       []string
	log           *slog.Logger
}

func defaultOptions() options {
	return options{
		credits:       DefaultStreamCredits,
		callTimeout:   DefaultCallTimeout,
		writeTimeout:  DefaultWriteTimeout,
		redialBackoff: DefaultRedialBackoff,
		base:          "/",
		codecs:        []string{codec.NameJSON},
		log:           slog.New(slog.DiscardHandler),
	}
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithStreamCredits sets the credit window of each stream (at most the
// interface's flow.credits; a request may ask for fewer with ?credits=N).
func WithStreamCredits(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.credits = n
		}
	})
}

// WithCallTimeout bounds each request/reply call (0: no bound beyond the
// HTTP request's own).
func WithCallTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.callTimeout = d })
}

// WithWriteTimeout bounds each write of a stream to a slow HTTP client
// (0: no bound).
func WithWriteTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.writeTimeout = d })
}

// WithRedialBackoff sets the first wait before dialling the server again
// after its session ended.
func WithRedialBackoff(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.redialBackoff = d
		}
	})
}

// WithBasePath tells the gateway where it is mounted (e.g. "/ifkit" under
// http.StripPrefix), for the links and documents it serves.
func WithBasePath(p string) Option {
	return optionFunc(func(o *options) {
		if p == "" || p[0] != '/' {
			p = "/" + p
		}
		o.base = p
	})
}

// WithLogger logs what the gateway does on its own: sessions that end,
// dials, interfaces that come and go.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.log = l
		}
	})
}

// WithCodecs sets the codecs the gateway asks for, in its order of
// preference, among those each interface offers (all of them when it
// offers none of these). The default is JSON alone, which is what HTTP
// clients send and get: the server encodes and decodes, and the gateway
// passes the text through; with "proto" the gateway converts through the
// protobuf JSON mapping itself.
func WithCodecs(names ...string) Option {
	return optionFunc(func(o *options) { o.codecs = names })
}

// WithCORS lets web pages of these origins ("https://app.example", or "*"
// for any) use the gateway from a browser: their requests get
// Access-Control-Allow-Origin, their preflights an answer, their
// WebSockets a handshake. Without it the gateway answers no CORS request,
// and only same-origin pages may open a WebSocket. The gateway has no
// authentication of its own: allow only origins you trust with the
// gateway's credentials.
func WithCORS(origins ...string) Option {
	return optionFunc(func(o *options) { o.origins = append(o.origins, origins...) })
}
