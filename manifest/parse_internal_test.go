package manifest

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzJSONPosition checks the JSON parser's position counting, which counts
// on from the last offset, against counting from the start every time.
func FuzzJSONPosition(f *testing.F) {
	f.Add([]byte("{\"a\": [1, 2],\n \"é\": \"x\"}\n"), uint16(3))
	f.Add([]byte("\n\n\xff\xfe\n"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, back uint16) {
		p := jsonParser{data: data, at: textPos{line: 1, col: 1}}
		offsets := []int{}
		for off := 0; off <= len(data)+1; off += 1 + off%3 {
			offsets = append(offsets, off)
		}
		offsets = append(offsets, int(back)%(len(data)+1), len(data)+5)
		for _, off := range offsets {
			line, col := p.position(off)
			wantLine, wantCol := naivePosition(data, off)
			if line != wantLine || col != wantCol {
				t.Fatalf("position(%d) = %d:%d, want %d:%d (data %q)", off, line, col, wantLine, wantCol, data)
			}
		}
	})
}

func naivePosition(data []byte, off int) (line, col int) {
	off = min(off, len(data))
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[lineStart:]) + 1
}
