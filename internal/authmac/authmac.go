// Package authmac is the MAC of ifkit's proofs of a secret (spec/PROTOCOL.md
// §3.5, §10.4): HMAC-SHA256 keyed with the secret over a labelled input.
// Package iface proves the shared secret with it, package control the
// operator's admin secret.
package authmac

import (
	"crypto/hmac"
	"crypto/sha256"
)

// Size is the length of a MAC.
const Size = sha256.Size

// MAC returns HMAC(secret, "ifkit-auth-v1 " ‖ label ‖ a ‖ b).
func MAC(secret []byte, label string, a, b []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("ifkit-auth-v1 " + label))
	m.Write(a)
	m.Write(b)
	return m.Sum(nil)
}

// Equal compares two MACs in constant time.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }
