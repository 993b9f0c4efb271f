package cmdutil

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ifkit/ifkit/iface"
)

// Untrusted returns s, text a peer chose (a close or refusal reason, a
// client or interface name, a live manifest's title), in a form that cannot
// act on a terminal or forge a log line (spec/PROTOCOL.md §13: display
// peer text as untrusted). Plain text stays as it is, readable: s itself
// when every rune is printable in strconv.IsPrint's sense (letters, marks,
// numbers, punctuation, symbols and the ASCII space). Anything else makes
// the whole of s a quoted Go string literal, with each newline, tab, other
// control character (ESC, CSI, DEL, the C1 controls), invalid byte, format
// character (bidi overrides and isolates, zero-width characters) and
// non-ASCII space escaped: "a\nb", "\x1b[31m", "\u202e", "\xff".
//
// Text output for people uses it; -o json and -o yaml stay exact (their
// encoders escape control characters themselves).
func Untrusted(s string) string {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
		i += n
	}
	return s
}

// UntrustedList is names a peer sent, each as Untrusted shows it, joined
// by ", ".
func UntrustedList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = Untrusted(n)
	}
	return strings.Join(out, ", ")
}

// ErrorText is err's text in a form safe to print on a terminal: every
// reason a peer sent that err carries (an *iface.RemoteError's, an
// *iface.CloseError's) appears as Untrusted shows it, so a reason with a
// newline cannot add a line of its own, and any line that is still not
// printable is quoted whole. The line breaks of ifctl's own hints stay.
func ErrorText(err error) string {
	text := err.Error()
	for _, r := range peerReasons(err, nil) {
		if q := Untrusted(r); q != r {
			text = strings.ReplaceAll(text, r, q)
		}
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = Untrusted(l)
	}
	return strings.Join(lines, "\n")
}

// peerReasons appends the reasons of the remote and close errors in err's
// tree to out.
func peerReasons(err error, out []string) []string {
	for err != nil {
		switch e := err.(type) {
		case *iface.CloseError:
			out = append(out, e.Reason)
		case *iface.RemoteError:
			out = append(out, e.Reason)
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				out = peerReasons(e, out)
			}
			return out
		}
		err = errors.Unwrap(err)
	}
	return out
}
