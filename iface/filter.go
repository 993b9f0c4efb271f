package iface

import (
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/filter"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/manifest"
)

// Filter is a subscriber's filter (spec/PROTOCOL.md §4.8): a CEL
// expression or the structured form, over the top-level fields of one
// message type the server sends, limited to the manifest's filter_fields.
// The server sends only the messages it selects; the rest never cross the
// socket and use no credit. See package filter.
type Filter = control.Filter

// WithFilter subscribes with a filter: the server compiles it when the
// connection opens and refuses the connection with invalid_filter (its
// reason gives the position) if it does not compile. Replace it later with
// Control.SetFilter.
//
//	conn, err := client.Connect(ctx, "sensors.temperature",
//		iface.WithFilter(iface.Filter{CEL: `zone == "north"`}))
func WithFilter(f Filter) ConnectOption {
	return connectOption(func(o *connectOptions) { o.filter = f })
}

// filterPB is f as OpenStream carries it, nil for no filter.
func filterPB(f Filter) *sessionpb.Filter {
	if f == (Filter{}) {
		return nil
	}
	return &sessionpb.Filter{Type: f.Type, Cel: f.CEL, Structured: f.Structured}
}

// compileFilter compiles a filter for connections of m in the named codec:
// nil for none, an error carrying invalid_filter for one that does not
// compile.
func compileFilter(m *manifest.Manifest, f Filter, codecName string) (*filter.Filter, error) {
	flt, err := filter.Compile(m, filter.Spec{Type: f.Type, CEL: f.CEL, Structured: f.Structured}, codecName)
	if err != nil {
		return nil, invalidFilter{err}
	}
	return flt, nil
}

// invalidFilter is a filter's refusal: its text is the *filter.Error's
// (position and reason), and it carries the code invalid_filter.
type invalidFilter struct{ err error }

func (e invalidFilter) Error() string   { return e.err.Error() }
func (e invalidFilter) Unwrap() []error { return []error{codes.InvalidFilter, e.err} }

// handshakeFilter compiles OpenStream.filter.
func handshakeFilter(m *manifest.Manifest, open *sessionpb.OpenStream, codecName string) (*filter.Filter, error) {
	pf := open.GetFilter()
	return compileFilter(m, Filter{Type: pf.GetType(), CEL: pf.GetCel(), Structured: pf.GetStructured()}, codecName)
}

// SetFilter replaces the connection's filter (the control operation
// filter); one that does not compile leaves the old one in place.
func (t target) SetFilter(f Filter) error {
	flt, err := compileFilter(t.conn.Manifest(), f, t.conn.Codec().Name())
	if err != nil {
		return err
	}
	if flt == nil {
		t.conn.SetFilter(nil)
		return nil
	}
	t.conn.SetFilter(flt)
	return nil
}
