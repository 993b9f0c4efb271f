package codec_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/codec"
)

func TestStandard(t *testing.T) {
	s := codec.Standard()
	if got, want := s.Names(), []string{"proto", "json", "raw"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	for _, name := range []string{"proto", "json", "raw"} {
		c, ok := s.Lookup(name)
		if !ok || c.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, c, ok)
		}
	}
	if _, ok := s.Lookup("xml"); ok {
		t.Error("Lookup(xml) found a codec")
	}
	if codec.Standard() == s {
		t.Error("Standard returned the same set twice")
	}
	names := s.Names()
	names[0] = "changed"
	if s.Names()[0] != "proto" {
		t.Error("Names returned the set's own slice")
	}
}

// named is a codec with another name, for sets.
type named struct {
	codec.Codec
	name string
}

func (n named) Name() string { return n.name }

func TestNewSetDuplicates(t *testing.T) {
	second := named{codec.Raw(), "json"}
	s := codec.NewSet(codec.JSON(), codec.Proto(), second)
	if got, want := s.Names(), []string{"json", "proto"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if c, _ := s.Lookup("json"); c != second {
		t.Errorf("Lookup(json) = %v, want the later codec", c)
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		name    string
		set     *codec.Set
		offered []string
		want    string // "" for an error
	}{
		{"first offered wins", codec.Standard(), []string{"json", "proto"}, "json"},
		{"unknown skipped", codec.Standard(), []string{"cbor", "msgpack", "raw", "json"}, "raw"},
		{"set order does not matter", codec.NewSet(codec.Raw(), codec.Proto()), []string{"proto", "raw"}, "proto"},
		{"no match", codec.NewSet(codec.Proto()), []string{"json", "raw"}, ""},
		{"nothing offered", codec.Standard(), nil, ""},
		{"empty set", codec.NewSet(), []string{"json"}, ""},
		{"nil set", nil, []string{"json"}, ""},
		{"case matters", codec.Standard(), []string{"JSON"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.set.Negotiate(tc.offered)
			if tc.want == "" {
				if !errors.Is(err, codec.ErrNoCodec) {
					t.Fatalf("Negotiate = %v, %v; want ErrNoCodec", c, err)
				}
				for _, name := range append(slices.Clone(tc.offered), tc.set.Names()...) {
					if !strings.Contains(err.Error(), `"`+name+`"`) {
						t.Errorf("error %q does not list %q", err, name)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Name() != tc.want {
				t.Errorf("Negotiate = %s, want %s", c.Name(), tc.want)
			}
		})
	}
	_, err := codec.NewSet(codec.Proto(), codec.Raw()).Negotiate([]string{"json"})
	if want := `codec: no common codec: offered ["json"], supported ["proto" "raw"]`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}
