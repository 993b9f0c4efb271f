package lab

import (
	"html"
	"regexp"
	"strings"
	"testing"
)

var (
	tagRE  = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>`)
	attrRE = regexp.MustCompile(`\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
)

// allowedTags are the elements goldmark writes for Markdown.
var allowedTags = map[string]bool{
	"p": true, "em": true, "strong": true, "code": true, "pre": true, "a": true, "ul": true, "ol": true, "li": true,
	"blockquote": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "hr": true, "br": true,
	"img": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true, "del": true,
}

// FuzzRenderMarkdown: whatever a manifest's description holds, its HTML
// has only Markdown's elements, no event handler attribute, and no link
// that runs script (text is escaped, so every "<" in the output opens a
// tag goldmark wrote).
func FuzzRenderMarkdown(f *testing.F) {
	for _, s := range []string{
		"**bold** and `code`",
		"<script>alert(1)</script>",
		"[x](javascript:alert(1)) <img src=x onerror=alert(1)>",
		"| a | b |\n|---|---|\n| 1 | 2 |",
		"<a href=\"javascript:1\">x</a> ![i](data:text/html,<script>)",
		"[x](JaVaScRiPt:alert(1)) <iframe src=x> 0 onerror=",
		"[x](&#x6a;avascript:alert(1)) [y](&#106;avascript&colon;alert(1)) <javascript:alert(1)>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out := renderMarkdown(src)
		for _, m := range tagRE.FindAllStringSubmatch(out, -1) {
			if !allowedTags[strings.ToLower(m[1])] {
				t.Fatalf("%q renders a <%s>: %q", src, m[1], out)
			}
			for _, a := range attrRE.FindAllStringSubmatch(m[2], -1) {
				name, val := strings.ToLower(a[1]), strings.ToLower(strings.TrimSpace(html.UnescapeString(strings.Trim(a[2], `"'`))))
				if strings.HasPrefix(name, "on") || name == "style" || name == "srcdoc" {
					t.Fatalf("%q renders the attribute %s: %q", src, name, out)
				}
				if (name == "href" || name == "src") && (strings.HasPrefix(val, "javascript:") || strings.HasPrefix(val, "vbscript:") || strings.HasPrefix(val, "data:text")) {
					t.Fatalf("%q renders %s=%q", src, name, val)
				}
			}
		}
	})
}
