package data

import (
	"bytes"
	"testing"
)

// Messages carved from one block must not see each other's bytes, even
// when the application appends to a Message's Data.
func TestRxSlabKeepsMessagesApart(t *testing.T) {
	var s rxSlab
	var msgs []*Message
	for i := range 300 {
		body := bytes.Repeat([]byte{byte(i)}, i%100+1)
		if i%50 == 0 {
			body = bytes.Repeat([]byte{byte(i)}, rxSlabMaxBody+1) // its own allocation
		}
		m, data := s.alloc(body)
		*m = Message{Data: data, Seq: uint64(i)}
		msgs = append(msgs, m)
	}
	msgs[0].Data = append(msgs[0].Data, 0xEE, 0xEE)
	msgs[1].Data = append(msgs[1].Data, 0xEE)
	for i, m := range msgs {
		if m.Seq != uint64(i) {
			t.Fatalf("message %d has seq %d: the block handed out one Message twice", i, m.Seq)
		}
		n := i%100 + 1
		if i%50 == 0 {
			n = rxSlabMaxBody + 1
		}
		if i <= 1 {
			continue
		}
		if !bytes.Equal(m.Data, bytes.Repeat([]byte{byte(i)}, n)) {
			t.Fatalf("message %d's data changed: %x", i, m.Data[:min(len(m.Data), 16)])
		}
	}
}
