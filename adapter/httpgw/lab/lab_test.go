package lab_test

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/adapter/httpgw/lab"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/examples/manifests"
	"github.com/ifkit/ifkit/manifest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hostile is an interface whose descriptions try to put script in the page.
const hostile = `
ifkit: 1
name: t.hostile
version: 1.0.0
direction: recv
description: |
  **bold** <script>alert(1)</script> <img src=x onerror=alert(2)>
  [click](javascript:alert(3))
messages:
  recv:
    Note:
      description: a <b>raw</b> note
      schema: {type: object, required: [text], properties: {text: {type: string}}}
`

// bench serves the example manifests (and hostile) on a Unix socket, with
// a lab in front of them on an httptest server.
func bench(t *testing.T, opts ...lab.Option) *httptest.Server {
	t.Helper()
	srv := iface.NewServer()
	names, _ := fs.Glob(manifests.FS, "*.yaml")
	for _, name := range names {
		data, _ := fs.ReadFile(manifests.FS, name)
		m, err := manifest.Parse(name, data, manifest.WithFS(manifests.FS))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Register(iface.Interface{Manifest: m, OnReset: func(context.Context, *iface.Conn, string) error { return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := manifest.Parse("hostile.yaml", []byte(hostile))
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(iface.Interface{Manifest: m})
	dir, err := os.MkdirTemp("", "lab")
	if err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	lb, err := lab.New(context.Background(), func(ctx context.Context) (*iface.Client, error) { return iface.Dial(ctx, addr) },
		append([]lab.Option{lab.WithServerName(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(lb)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		lb.Close()
		srv.Close()
		os.RemoveAll(dir)
	})
	return hs
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// TestPage: the page and its assets come from the binary, with a policy
// that lets the page load nothing from elsewhere, and name nothing
// elsewhere to load.
func TestPage(t *testing.T) {
	hs := bench(t)
	c := hs.Client()
	st, h, body := get(t, c, hs.URL+"/")
	if st != 200 || !strings.Contains(body, `<script src="/assets/lab.js"`) || !strings.Contains(body, "unix://") {
		t.Fatalf("GET /: %d %.300s", st, body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Fatalf("CSP: %q", csp)
	}
	for path, ctype := range map[string]string{"/assets/lab.js": "text/javascript", "/assets/lab.css": "text/css", "/assets/icon.svg": "image/svg+xml"} {
		st, h, body := get(t, c, hs.URL+path)
		if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Fatalf("GET %s: %d %s %d bytes", path, st, h.Get("Content-Type"), len(body))
		}
		// Nothing from another origin: the only URL is the SVG namespace.
		if rest := strings.ReplaceAll(body, "http://www.w3.org/2000/svg", ""); strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
			t.Fatalf("%s names another origin", path)
		}
	}
	if st, _, _ := get(t, c, hs.URL+"/assets/nope.js"); st != 404 {
		t.Fatalf("GET /assets/nope.js: %d", st)
	}
}

// TestGateway: the gateway is under /gw, its links too.
func TestGateway(t *testing.T) {
	hs := bench(t)
	st, _, body := get(t, hs.Client(), hs.URL+"/gw/")
	var idx struct {
		Interfaces []struct {
			Name  string
			Links map[string]string
		}
	}
	if err := json.Unmarshal([]byte(body), &idx); st != 200 || err != nil || len(idx.Interfaces) < 5 {
		t.Fatalf("GET /gw/: %d %.300s", st, body)
	}
	for _, i := range idx.Interfaces {
		if !strings.HasPrefix(i.Links["manifest"], "/gw/"+i.Name+"/") {
			t.Fatalf("%s's manifest link: %q", i.Name, i.Links["manifest"])
		}
	}
	if st, _, body := get(t, hs.Client(), hs.URL+"/gw/sensors.temperature/manifest"); st != 200 || !strings.Contains(body, `"name":"sensors.temperature"`) {
		t.Fatalf("manifest: %d %.200s", st, body)
	}
}

// TestDocs: descriptions come as HTML from their Markdown, and raw HTML or
// a script link in a manifest reaches the page as nothing that runs.
func TestDocs(t *testing.T) {
	hs := bench(t)
	var d struct {
		Name, Description string
		Hash              string `json:"manifest_hash"`
		Types             map[string]string
	}
	st, _, body := get(t, hs.Client(), hs.URL+"/api/docs/sensors.temperature")
	if err := json.Unmarshal([]byte(body), &d); st != 200 || err != nil {
		t.Fatalf("docs: %d %s", st, body)
	}
	if !strings.Contains(d.Description, "<strong>one per probe per second</strong>") || !strings.Contains(d.Description, "<li>") || !strings.HasPrefix(d.Hash, "sha256:") {
		t.Fatalf("sensors.temperature: %+v", d)
	}
	if _, ok := d.Types["Reading"]; !ok {
		t.Fatalf("no Reading in %v", d.Types)
	}
	get(t, hs.Client(), hs.URL+"/api/docs/t.hostile")
	st, _, body = get(t, hs.Client(), hs.URL+"/api/docs/t.hostile")
	json.Unmarshal([]byte(body), &d)
	all := d.Description + d.Types["Note"]
	for _, bad := range []string{"<script", "<img", "onerror", "javascript:", "<b>"} {
		if strings.Contains(all, bad) {
			t.Fatalf("%q reaches the page: %s", bad, all)
		}
	}
	if !strings.Contains(d.Description, "<strong>bold</strong>") {
		t.Fatalf("hostile description: %s", d.Description)
	}
	if st, _, body := get(t, hs.Client(), hs.URL+"/api/docs/t.none"); st != 404 || !strings.Contains(body, "unknown_interface") {
		t.Fatalf("docs of t.none: %d %s", st, body)
	}
}

// TestSecret: with a secret nothing but the sign-in form and the assets
// answers without it; signing in sets a cookie that is not the secret, and
// no answer the page gets holds the secret.
func TestSecret(t *testing.T) {
	const secret = "correct-horse-battery-staple-0123456789"
	hs := bench(t, lab.WithSecret([]byte(secret)))
	c := hs.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	st, _, body := get(t, c, hs.URL+"/")
	if st != 401 || !strings.Contains(body, `name="secret"`) {
		t.Fatalf("GET / without the secret: %d %.200s", st, body)
	}
	for _, p := range []string{"/gw/", "/gw/_events", "/api/docs/db.kv", "/gw/db.kv/manifest"} {
		if st, _, _ := get(t, c, hs.URL+p); st != 401 {
			t.Fatalf("GET %s without the secret: %d", p, st)
		}
	}
	if st, _, _ := get(t, c, hs.URL+"/assets/lab.css"); st != 200 {
		t.Fatalf("the sign-in form's style sheet: %d", st)
	}
	res, err := c.PostForm(hs.URL+"/login", url.Values{"secret": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 || len(res.Cookies()) != 0 {
		t.Fatalf("a wrong secret: %d %v", res.StatusCode, res.Cookies())
	}
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	res, err = c.PostForm(hs.URL+"/login", url.Values{"secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 303 || len(res.Cookies()) != 1 {
		t.Fatalf("the right secret: %d %v", res.StatusCode, res.Cookies())
	}
	ck := res.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || strings.Contains(ck.Value, secret) || len(ck.Value) < 32 {
		t.Fatalf("cookie: %+v", ck)
	}
	for _, p := range []string{"/", "/assets/lab.js", "/gw/", "/api/docs/db.kv", "/gw/db.kv/manifest", "/gw/db.kv/openapi.json"} {
		st, h, body := get(t, c, hs.URL+p)
		if st != 200 {
			t.Fatalf("GET %s signed in: %d %.200s", p, st, body)
		}
		for k, v := range h {
			if strings.Contains(strings.Join(v, " "), secret) {
				t.Fatalf("GET %s: header %s holds the secret", p, k)
			}
		}
		if strings.Contains(body, secret) {
			t.Fatalf("GET %s: the body holds the secret", p)
		}
	}
	// Scripts: the secret as a Bearer token.
	c.Jar = nil
	if st, _, _ := get(t, c, hs.URL+"/gw/", "Authorization", "Bearer "+secret); st != 200 {
		t.Fatalf("Bearer: %d", st)
	}
	if st, _, _ := get(t, c, hs.URL+"/gw/", "Authorization", "Bearer nope"); st != 401 {
		t.Fatalf("a wrong Bearer: %d", st)
	}
}

// TestOtherOrigins: a browser's POST from another site's page is refused,
// and without a secret so is a request to a name that is not loopback (a
// DNS rebinding); the page's own requests pass.
func TestOtherOrigins(t *testing.T) {
	hs := bench(t)
	c := hs.Client()
	post := func(hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", hs.URL+"/gw/t.hostile/Note", strings.NewReader(`{"text":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if st, body := post("Sec-Fetch-Site", "same-origin"); st != 200 {
		t.Fatalf("the page's own POST: %d %s", st, body)
	}
	if st, body := post("Sec-Fetch-Site", "cross-site"); st != 403 || !strings.Contains(body, "another origin") {
		t.Fatalf("a cross-site POST: %d %s", st, body)
	}
	if st, body := post("Origin", "https://evil.example"); st != 403 {
		t.Fatalf("a POST from another origin: %d %s", st, body)
	}
	if st, body := post("Host", "evil.example"); st != 403 || !strings.Contains(body, "127.0.0.1") {
		t.Fatalf("a request to another name: %d %s", st, body)
	}
	if st, _, _ := get(t, c, strings.Replace(hs.URL, "127.0.0.1", "localhost", 1)+"/"); st != 200 {
		t.Fatalf("GET via localhost: %d", st)
	}
}
