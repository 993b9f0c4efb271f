package data

import (
	"bytes"
	"testing"
)

func TestMessageAuthSignAndVerify(t *testing.T) {
	key := []byte("the message key of connection 7, 32 bytes")
	client, server := newMessageAuth(key, false), newMessageAuth(key, true)
	f := &frame{kind: FrameMessage, flags: FlagAuth, seq: 3, typeID: 1, corr: 9, body: []byte(`{"text":"hi"}`)}
	f.tag = append([]byte(nil), client.sign(f)...)
	if !server.verify(f) {
		t.Fatal("a correctly signed message does not verify")
	}
	for name, change := range map[string]func(g *frame){
		"body":        func(g *frame) { g.body = []byte(`{"text":"ho"}`) },
		"seq":         func(g *frame) { g.seq++ },
		"type":        func(g *frame) { g.typeID++ },
		"corr":        func(g *frame) { g.corr++ },
		"reply flag":  func(g *frame) { g.flags |= FlagReply },
		"no tag flag": func(g *frame) { g.flags &^= FlagAuth },
		"tag":         func(g *frame) { g.tag = append([]byte{g.tag[0] ^ 1}, g.tag[1:]...) },
	} {
		g := *f
		change(&g)
		if server.verify(&g) {
			t.Errorf("a message with a changed %s verifies", name)
		}
	}
	// Reflected: the server must not accept its own tag as the client's.
	if client.verify(f) {
		t.Error("a message verifies in the direction it was not sent")
	}
	// Another connection's key.
	other := newMessageAuth([]byte("the message key of connection 8, 32 bytes"), true)
	if other.verify(f) {
		t.Error("a message verifies under another connection's key")
	}
}

// Tag, the exported form, agrees with what a Conn signs.
func TestTagMatchesSign(t *testing.T) {
	key := []byte("k")
	f := &Frame{Kind: FrameMessage, Flags: FlagAuth, Seq: 1, TypeID: 2, Corr: 3, Body: []byte("b")}
	if got, want := Tag(key, false, f), newMessageAuth(key, false).sign(f.internal()); !bytes.Equal(got, want) {
		t.Fatalf("Tag = %x, sign = %x", got, want)
	}
}
