package muxguard_test

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkRead reads an endless stream of Data frames in 4 KiB reads (the
// size of yamux's bufio.Reader) from an in-memory socket, bare and through
// a guard; the difference is the guard's cost per Read.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 16 << 10} {
		var stream []byte
		for len(stream) < 1<<20 {
			stream = append(stream, data(0, 1, make([]byte, size))...)
		}
		for _, guarded := range []bool{false, true} {
			name := fmt.Sprintf("frames=%dB/bare", size)
			if guarded {
				name = fmt.Sprintf("frames=%dB/guard", size)
			}
			b.Run(name, func(b *testing.B) {
				var r io.Reader = &loopConn{stream: stream}
				if guarded {
					r = newGuard(b, r.(*loopConn), frozen())
				}
				buf := make([]byte, 4096)
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.Read(buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
