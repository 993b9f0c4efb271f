package cmdutil

import (
	"context"

	"github.com/ifkit/ifkit/manifest"
)

// FetchManifest fetches the manifest the server at addr serves for the
// interface name, over the control sub-interface, within f.Timeout.
func FetchManifest(ctx context.Context, addr, name string, f *ConnFlags) (*manifest.Manifest, error) {
	c, err := Dial(ctx, addr, f)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctl, err := c.Control(ctx, "")
	if err != nil {
		return nil, Explain(err, addr)
	}
	defer ctl.Close()
	m, err := ctl.Manifest(ctx, name, nil)
	if err != nil {
		return nil, Explain(err, addr)
	}
	return m, nil
}
