package cmdutil_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

func TestUntrusted(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"the server is shutting down", "the server is shutting down"},
		{`say "hi" — café, 温度, ≥ 3 €`, `say "hi" — café, 温度, ≥ 3 €`},
		{"two\nlines", `"two\nlines"`},
		{"cr\rreturn", `"cr\rreturn"`},
		{"tab\there", `"tab\there"`},
		{"\x1b[31mred\x1b[0m", `"\x1b[31mred\x1b[0m"`},
		{"\x1b]0;title\x07", `"\x1b]0;title\a"`},
		{"c1 \u009b31m csi", `"c1 \u009b31m csi"`},
		{"del\x7f", `"del\x7f"`},
		{"bad \xff utf-8", `"bad \xff utf-8"`},
		{"abc\u202edcba", `"abc\u202edcba"`}, // right-to-left override
		{"\u2066isolate\u2069", `"\u2066isolate\u2069"`},
		{"zero\u200bwidth", `"zero\u200bwidth"`},
		{"line\u2028sep", `"line\u2028sep"`},
		{"nb\u00a0space", `"nb\u00a0space"`},
		{"nul\x00", `"nul\x00"`},
	} {
		if got := cmdutil.Untrusted(c.in); got != c.want {
			t.Errorf("Untrusted(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// FuzzUntrusted: whatever a peer sends, the result is one line of
// printable text, and quoted text reads back as what was sent.
func FuzzUntrusted(f *testing.F) {
	for _, s := range []string{"plain", "a\nb", "\x1b[2J", "\xff\xfe", "\u202e", `"quoted"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := cmdutil.Untrusted(s)
		for _, r := range got {
			if !strconv.IsPrint(r) {
				t.Fatalf("Untrusted(%q) = %q holds %U", s, got, r)
			}
		}
		if got == s {
			return
		}
		back, err := strconv.Unquote(got)
		if err != nil || back != s {
			t.Fatalf("Untrusted(%q) = %s does not unquote to it (%q, %v)", s, got, back, err)
		}
	})
}

func TestErrorText(t *testing.T) {
	reason := "no\n12:00:00.000 fake line \x1b[31m"
	remote := &iface.RemoteError{Code: iface.CodeInternal, Reason: reason}
	closed := &iface.CloseError{Code: iface.CodeNormalClose, Reason: reason, Remote: true}
	for _, err := range []error{
		fmt.Errorf("line 3: %w", remote),
		closed,
		errors.Join(errors.New("first"), fmt.Errorf("wrapped: %w", closed)),
		cmdutil.Hint(remote, "try this"),
	} {
		got := cmdutil.ErrorText(err)
		if strings.Contains(got, "\x1b") || strings.Contains(got, "\n12:00") {
			t.Errorf("ErrorText(%q) = %q: the reason was not made inert", err, got)
		}
		if !strings.Contains(got, strconv.Quote(reason)) {
			t.Errorf("ErrorText(%q) = %q lacks the quoted reason", err, got)
		}
	}
	// ifctl's own hint lines stay lines.
	if got := cmdutil.ErrorText(cmdutil.Hint(errors.New("it failed"), "do this", "or that")); got != "it failed\n  try: do this\n  try: or that" {
		t.Errorf("hints: %q", got)
	}
	// a line with control characters that is no known reason is quoted whole
	if got := cmdutil.ErrorText(errors.New("cause: \x1b[2J")); got != `"cause: \x1b[2J"` {
		t.Errorf("other text: %q", got)
	}
}
