package lab

import (
	"bytes"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown renders manifest descriptions. goldmark without its unsafe
// option writes no raw HTML (it leaves a comment in its place) and drops
// links to dangerous URLs (javascript:, vbscript:, file:, data: other than
// images), so a manifest cannot put script into the page.
var markdown = sync.OnceValue(func() goldmark.Markdown {
	return goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify))
})

// renderMarkdown returns the HTML of a Markdown text ("" for "").
func renderMarkdown(src string) string {
	if src == "" {
		return ""
	}
	var buf bytes.Buffer
	if err := markdown().Convert([]byte(src), &buf); err != nil {
		return "<p>" + htmlEscape(src) + "</p>"
	}
	return buf.String()
}
