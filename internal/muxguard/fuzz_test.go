package muxguard_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/ifkit/ifkit/internal/muxguard"
)

// refRate is the PingsPerSecond of the limited runs of FuzzGuard.
const refRate = 4

// refParse is the reference: it walks the whole stream at once, counts the
// Ping requests as yamux would receive them, and applies a token bucket of
// burst (0: none) and refRate, with the n-th Ping (from 0) arriving at n ×
// step. It returns how many Ping requests it counted, the one over the
// limit included, and the offset of that one's header, or -1.
func refParse(stream []byte, burst int, step time.Duration) (count uint64, cut int) {
	var tokens float64
	for off := 0; off+12 <= len(stream); {
		h := stream[off : off+12]
		switch h[1] {
		case typeData:
			next := int64(off) + 12 + int64(binary.BigEndian.Uint32(h[8:12]))
			if next > int64(len(stream)) {
				return count, -1
			}
			off = int(next)
			continue
		case typePing:
			if binary.BigEndian.Uint16(h[2:4])&flagSYN == 0 {
				break
			}
			count++
			if burst == 0 {
				break
			}
			if count == 1 {
				tokens = float64(burst)
			} else if step > 0 {
				tokens = min(float64(burst), tokens+step.Seconds()*refRate)
			}
			if tokens < 1 {
				return count, off
			}
			tokens--
		}
		off += 12
	}
	return count, -1
}

// FuzzGuard feeds arbitrary bytes, cut into arbitrary reads, through a
// guard: it must never panic, must pass through exactly the bytes the
// reference says yamux should see, and must count exactly the Ping requests
// the reference counts. limit == 0 runs without a practical limit; else the
// burst is limit and Ping requests arrive stepMs apart.
func FuzzGuard(f *testing.F) {
	mixedStream, _ := mixed()
	f.Add(mixedStream, []byte{5, 7, 1}, uint8(0), uint16(0))
	f.Add(mixedStream, []byte{}, uint8(2), uint16(0))
	f.Add(pings(40), []byte{11, 13}, uint8(16), uint16(200))
	f.Add(pings(40), []byte{0}, uint8(3), uint16(250))
	f.Add(append(data(0, 1, pings(3)), pings(5)...), []byte{3}, uint8(4), uint16(1))
	f.Add(frame(typeData, 0, 1, math.MaxUint32, pings(2)), []byte{}, uint8(1), uint16(0))
	f.Add([]byte{0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0}, []byte{1}, uint8(1), uint16(0))
	f.Fuzz(func(t *testing.T, stream, cuts []byte, limit uint8, stepMs uint16) {
		cfg := muxguard.Config{PingBurst: math.MaxInt32, PingsPerSecond: refRate}
		if limit > 0 {
			cfg.PingBurst = int(limit)
		}
		step := time.Duration(stepMs) * time.Millisecond
		cfg.Now = newClock(step).Now
		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = int(c) + 1
		}
		g, err := muxguard.New(&chunkConn{data: bytes.Clone(stream), sizes: sizes}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(g)

		refBurst := 0
		if limit > 0 {
			refBurst = int(limit)
		}
		count, cut := refParse(stream, refBurst, step)
		if g.Pings() != count {
			t.Fatalf("Pings() = %d; the reference counts %d", g.Pings(), count)
		}
		if !bytes.Equal(got, stream[:len(got)]) {
			t.Fatal("the bytes delivered are not the stream's")
		}
		if cut < 0 {
			if err != io.EOF || g.Err() != nil || len(got) != len(stream) {
				t.Fatalf("no limit broken, yet the read ended with %v after %d of %d bytes (Err() = %v)",
					err, len(got), len(stream), g.Err())
			}
			return
		}
		var gerr *muxguard.Error
		if !errors.As(err, &gerr) || g.Err() != err {
			t.Fatalf("the Ping at offset %d breaks the limit, yet the read ended with %v (Err() = %v)", cut, err, g.Err())
		}
		// Everything before the header; of the header, at most what
		// earlier reads had delivered, never all of it.
		if len(got) < cut || len(got) >= cut+12 {
			t.Fatalf("delivered %d bytes; the Ping over the limit starts at %d", len(got), cut)
		}
	})
}
