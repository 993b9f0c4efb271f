package serve

import (
	"context"
	"fmt"
	"strings"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// hosted is what the server hosts, by manifest file, so that a reload
// (SIGHUP) can tell what was added, removed and changed.
type hosted struct {
	srv   *iface.Server
	opts  *Options
	log   *logger
	life  *lifecycle
	files map[string]*manifest.Manifest // file → the manifest served from it
}

// load reads every manifest file. A file that does not load, two files that
// describe one interface, and an interface with message_auth on a server
// without a shared secret are errors, each reported.
func (h *hosted) load(ctx context.Context) (map[string]*manifest.Manifest, []error) {
	out := map[string]*manifest.Manifest{}
	var errs []error
	byName := map[string]string{}
	for _, f := range h.opts.Files {
		m, err := manifest.LoadContext(ctx, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := byName[m.Name]; dup {
			errs = append(errs, fmt.Errorf("%s and %s both describe %s; serve each interface once", other, f, m.Name))
			continue
		}
		if m.MessageAuth == manifest.MessageAuthHMAC && h.opts.SecretFile == "" && h.opts.SecretEnv == "" {
			errs = append(errs, fmt.Errorf("%s: %s declares message_auth: %s, so its data streams open only on sessions authenticated with a shared secret; give --secret-file or --secret-env", f, m.Name, m.MessageAuth))
			continue
		}
		byName[m.Name] = f
		out[f] = m
	}
	return out, errs
}

// apply makes the server host next: new interfaces are registered, changed
// ones registered again (new connections get the new manifest), and those
// no file describes any more unregistered, ending their connections. Each
// step is logged; control streams are told by the server.
func (h *hosted) apply(next map[string]*manifest.Manifest) error {
	nextNames := map[string]bool{}
	for _, m := range next {
		nextNames[m.Name] = true
	}
	for f, old := range h.files {
		if !nextNames[old.Name] {
			h.srv.Unregister(old.Name)
			h.log.printf("removed %s (%s)", old.Name, f)
		}
	}
	oldByName := map[string]*manifest.Manifest{}
	for _, m := range h.files {
		oldByName[m.Name] = m
	}
	for _, f := range h.opts.Files {
		m, ok := next[f]
		if !ok {
			continue
		}
		old := oldByName[m.Name]
		if old != nil && old.Hash() == m.Hash() {
			continue
		}
		if err := h.srv.Register(newImpl(m, h.opts, h.log, h.life).iface()); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if h.files != nil {
			if old == nil {
				h.log.printf("added %s %s (%s)", m.Name, m.Version, f)
			} else {
				h.log.printf("changed %s: %s %s, %s", m.Name, m.Version, short(m.Hash()), f)
			}
		}
	}
	h.files = next
	return nil
}

// reload reads the files again and applies what loads. A file that no
// longer loads keeps serving what it served before, and says why.
func (h *hosted) reload(ctx context.Context) {
	next, errs := h.load(ctx)
	for _, err := range errs {
		h.log.printf("reload: %v", err)
	}
	for f, m := range h.files {
		if _, ok := next[f]; !ok && len(errs) > 0 {
			next[f] = m // kept: its file did not load this time
		}
	}
	if err := h.apply(next); err != nil {
		h.log.printf("reload: %v", err)
	}
	names := make([]string, 0, len(h.files))
	for _, f := range h.opts.Files {
		if m, ok := h.files[f]; ok {
			names = append(names, m.Name+" "+m.Version)
		}
	}
	h.log.printf("reloaded: serving %s", strings.Join(names, ", "))
}

func short(hash string) string {
	if len(hash) > len("sha256:")+12 {
		return hash[:len("sha256:")+12]
	}
	return hash
}
