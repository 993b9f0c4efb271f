package codec

import (
	"fmt"
	"slices"
)

// Set holds codecs by name. A Set does not change once made and is safe for
// concurrent use. The zero Set and a nil *Set are empty.
type Set struct {
	names  []string
	codecs map[string]Codec
}

// NewSet returns a set of cs, in the given order of preference. A later codec
// with the same name as an earlier one replaces it, keeping its place.
func NewSet(cs ...Codec) *Set {
	s := &Set{codecs: make(map[string]Codec, len(cs))}
	for _, c := range cs {
		name := c.Name()
		if _, dup := s.codecs[name]; !dup {
			s.names = append(s.names, name)
		}
		s.codecs[name] = c
	}
	return s
}

// Standard returns a new set of the proto, json and raw codecs, in that order.
func Standard() *Set { return NewSet(Proto(), JSON(), Raw()) }

// Lookup returns the codec named name.
func (s *Set) Lookup(name string) (Codec, bool) {
	if s == nil {
		return nil, false
	}
	c, ok := s.codecs[name]
	return c, ok
}

// Names returns the names of the set's codecs in their order of preference.
// The caller may modify the returned slice.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.names)
}

// Negotiate returns the first of the offered codec names that the set has.
// If it has none, the error matches [ErrNoCodec] and lists both lists.
func (s *Set) Negotiate(offered []string) (Codec, error) {
	for _, name := range offered {
		if c, ok := s.Lookup(name); ok {
			return c, nil
		}
	}
	return nil, fmt.Errorf("codec: %w: offered %q, supported %q", ErrNoCodec, offered, s.Names())
}
