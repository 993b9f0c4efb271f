package filter_test

import (
	"errors"
	"testing"

	"github.com/ifkit/ifkit/filter"
)

// FuzzParse: the structured form's parser never panics, and refuses with
// an *Error; what it accepts compiles or is refused with an *Error too.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"field":"zone","eq":"north"}`,
		`{"field":"zone","in":["north","south"]}`,
		`{"field":"probe","prefix":"bench-"}`,
		`{"all":[{"field":"zone","eq":"a"},{"not":{"field":"probe","prefix":"b"}}]}`,
		`{"any":[]}`, `{"all":[{"any":[{"not":{"all":[]}}]}]}`,
		`{"field":"zone","eq":1.5e400}`, `{"field":"zone","eq":"a","eq":"b"}`, `[`, `{"not":`, `null`,
	} {
		f.Add(s)
	}
	m := sensors(f)
	f.Fuzz(func(t *testing.T, s string) {
		_, err := filter.Parse([]byte(s))
		var fe *filter.Error
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("Parse(%q): %v is not a *filter.Error", s, err)
		}
		if err != nil {
			return
		}
		if _, err := filter.Compile(m, filter.Spec{Structured: s}, "proto"); err != nil && !errors.As(err, &fe) {
			t.Fatalf("Compile(%q): %v is not a *filter.Error", s, err)
		}
	})
}
