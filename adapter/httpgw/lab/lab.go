package lab

import (
	"context"
	"embed"
	"encoding/json"
	"html"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/ifkit/ifkit/adapter/httpgw"
)

//go:embed assets
var assets embed.FS

// gatewayPath is where the lab mounts its gateway.
const gatewayPath = "/gw"

// Lab is the lab bench: an http.Handler serving the page and, under /gw,
// the gateway it uses (see the package documentation). Create it with New
// and Close it when done.
type Lab struct {
	gw   *httpgw.Gateway
	mux  *http.ServeMux
	auth *auth
	csrf *http.CrossOriginProtection
	page []byte
}

var _ http.Handler = (*Lab)(nil)

// New starts a gateway to the server dial reaches (see httpgw.New) and
// returns the lab bench in front of it.
func New(ctx context.Context, dial httpgw.Dialer, opts ...Option) (*Lab, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	gw, err := httpgw.New(ctx, dial, append(o.gw, httpgw.WithBasePath(gatewayPath))...)
	if err != nil {
		return nil, err
	}
	page, err := renderIndex(o.server)
	if err != nil {
		gw.Close()
		return nil, err
	}
	l := &Lab{gw: gw, mux: http.NewServeMux(), auth: newAuth(o.secret), csrf: http.NewCrossOriginProtection(), page: page}
	static, _ := fs.Sub(assets, "assets")
	l.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	l.mux.HandleFunc("GET /{$}", l.serveIndex)
	l.mux.HandleFunc("GET /api/docs/{name}", l.serveDocs)
	l.mux.Handle(gatewayPath+"/", http.StripPrefix(gatewayPath, gw))
	return l, nil
}

// Close stops the gateway: its streams and calls end, and its session
// closes. It returns when the gateway's goroutines have exited.
func (l *Lab) Close() error { return l.gw.Close() }

// ServeHTTP serves the page, its API and the gateway; with a secret, only
// to requests that prove it, and without one only to requests addressed
// to a loopback host (another name would be a DNS rebinding: a web page of
// another site reading the lab). A browser's cross-origin POST is refused
// either way (http.CrossOriginProtection), so that no other site's page
// can send messages through the lab.
func (l *Lab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.auth == nil && !loopbackHost(r.Host) {
		http.Error(w, "the lab bench without a secret answers only requests to 127.0.0.1, [::1] or localhost, not "+strconvQuote(r.Host), http.StatusForbidden)
		return
	}
	if err := l.csrf.Check(r); err != nil {
		http.Error(w, "a page of another origin may not send through the lab bench: "+err.Error(), http.StatusForbidden)
		return
	}
	if l.auth != nil {
		if r.URL.Path == "/login" {
			l.auth.login(w, r)
			return
		}
		// The script and style sheet hold nothing secret, and the
		// sign-in form needs the style sheet.
		if !l.auth.ok(r) && !strings.HasPrefix(r.URL.Path, "/assets/") {
			if r.Method == http.MethodGet && r.URL.Path == "/" {
				writeLogin(w, http.StatusUnauthorized, "")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="ifkit lab"`)
			http.Error(w, "sign in first: open the lab's page, or send Authorization: Bearer SECRET", http.StatusUnauthorized)
			return
		}
	}
	if !strings.HasPrefix(r.URL.Path, gatewayPath+"/") {
		setPageHeaders(w)
	}
	l.mux.ServeHTTP(w, r)
}

// setPageHeaders forbids what the page never does: load anything from
// another origin, run inline script, be framed.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (l *Lab) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(l.page)
}

// docs is an interface's Markdown, rendered: its description and each
// message type's.
type docs struct {
	Name        string            `json:"name"`
	Hash        string            `json:"manifest_hash"`
	Description string            `json:"description"`
	Types       map[string]string `json:"types"`
}

// serveDocs answers GET /api/docs/NAME.
func (l *Lab) serveDocs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	m, ok := l.gw.Manifest(name)
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "unknown_interface", "status": 404, "message": "the server has no interface " + strconvQuote(name)}})
		return
	}
	d := docs{Name: m.Name, Hash: m.Hash(), Description: renderMarkdown(m.Description), Types: map[string]string{}}
	for _, t := range append(slices.Clone(m.Send), m.Recv...) {
		d.Types[t.Name] = renderMarkdown(t.Description)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", `"`+strings.TrimPrefix(m.Hash(), "sha256:")+`"`)
	json.NewEncoder(w).Encode(d)
}

// renderIndex fills the page's template: the server's name is the only
// thing that varies.
func renderIndex(server string) ([]byte, error) {
	t, err := template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := t.Execute(&b, struct{ Server string }{server}); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

var loginPage = template.Must(template.ParseFS(assets, "assets/login.html"))

// loopbackHost tells whether a Host header names this machine only.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func htmlEscape(s string) string { return html.EscapeString(s) }

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
