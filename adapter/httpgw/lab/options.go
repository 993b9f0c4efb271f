package lab

import "github.com/ifkit/ifkit/adapter/httpgw"

// Option configures a Lab.
type Option interface{ apply(*options) }

type options struct {
	secret []byte
	gw     []httpgw.Option
	server string
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithSecret makes every request prove secret: a Bearer token, or the
// cookie that signing in on the page sets. Serve a Lab that other hosts
// can reach only with a secret, and over TLS.
func WithSecret(secret []byte) Option {
	return optionFunc(func(o *options) { o.secret = append([]byte(nil), secret...) })
}

// WithGatewayOptions configures the gateway the lab runs (credits, call
// timeout, logger). Its base path is the lab's /gw.
func WithGatewayOptions(opts ...httpgw.Option) Option {
	return optionFunc(func(o *options) { o.gw = append(o.gw, opts...) })
}

// WithServerName is what the page calls the server (its address, say).
func WithServerName(name string) Option {
	return optionFunc(func(o *options) { o.server = name })
}
