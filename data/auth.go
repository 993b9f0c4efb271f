package data

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// messageAuth signs and checks MESSAGE frames on an interface that declares
// message_auth: hmac-sha256 (spec/PROTOCOL.md, "Per-message
// authentication"). The tag is HMAC-SHA256 over the sender's direction, the
// sequence number, type id, correlation id, reply flag and body, keyed per
// connection from the session key, truncated to AuthTagLen bytes. The
// direction byte keeps a message from being reflected back to its sender;
// the sequence number, from being replayed or reordered.
type messageAuth struct {
	// The writer goroutine uses out, the reader goroutine in.
	out, in       hash.Hash
	sendDir       byte
	outBuf, inBuf []byte
}

const (
	dirServerToClient = 0x01
	dirClientToServer = 0x02
)

func newMessageAuth(key []byte, server bool) *messageAuth {
	a := &messageAuth{out: hmac.New(sha256.New, key), in: hmac.New(sha256.New, key), sendDir: dirClientToServer}
	if server {
		a.sendDir = dirServerToClient
	}
	return a
}

func tag(h hash.Hash, buf []byte, dir byte, f *frame) []byte {
	h.Reset()
	var head [1 + 8 + 4 + 8 + 1]byte
	head[0] = dir
	binary.BigEndian.PutUint64(head[1:], f.seq)
	binary.BigEndian.PutUint32(head[9:], f.typeID)
	binary.BigEndian.PutUint64(head[13:], f.corr)
	head[21] = f.flags & FlagReply
	h.Write(head[:])
	h.Write(f.body)
	return h.Sum(buf[:0])[:AuthTagLen]
}

// sign returns f's tag; it stays valid until the next sign.
func (a *messageAuth) sign(f *frame) []byte {
	a.outBuf = tag(a.out, a.outBuf, a.sendDir, f)
	return a.outBuf
}

// verify says whether f carries the right tag from the peer.
func (a *messageAuth) verify(f *frame) bool {
	if f.flags&FlagAuth == 0 {
		return false
	}
	a.inBuf = tag(a.in, a.inBuf, dirServerToClient+dirClientToServer-a.sendDir, f)
	return hmac.Equal(a.inBuf, f.tag)
}

// Tag returns the authentication tag the sender of f computes on an
// interface with message_auth: hmac-sha256, keyed with the connection's
// message key (spec/PROTOCOL.md §12); fromServer says which end sends it. A
// peer written by hand signs with it, and checks a received tag against it.
func Tag(key []byte, fromServer bool, f *Frame) []byte {
	dir := byte(dirClientToServer)
	if fromServer {
		dir = dirServerToClient
	}
	return tag(hmac.New(sha256.New, key), nil, dir, f.internal())
}
