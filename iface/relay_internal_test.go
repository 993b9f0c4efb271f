package iface

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReadRelayHello: the relay's decoder of its peers' hellos never
// panics nor reads past a hello, accepts only well-formed hellos, and
// answers a bad one with a refusal that fits its wire form.
func FuzzReadRelayHello(f *testing.F) {
	f.Add([]byte("IFKR\x01\x01\x02kv"))
	f.Add([]byte("IFKR\x01\x03\x00"))
	f.Add([]byte("IFKR\x01\x02\xff" + strings.Repeat("a", 255)))
	f.Add([]byte("IFKR\x02\x02\x01a"))
	f.Add([]byte("IFKR\x01\x02\x03a\x00b"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte("IFKR\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := bytes.NewReader(data)
		role, name, bad, err := readRelayHello(rd)
		used := len(data) - rd.Len()
		if used > 7+255 {
			t.Fatalf("read %d bytes of a hello", used)
		}
		if err == nil {
			want := append([]byte{'I', 'F', 'K', 'R', relayVersion, role, byte(len(name))}, name...)
			if !bytes.Equal(data[:used], want) || role < relayServe || role > relaySelf || (name == "") != (role == relaySelf) {
				t.Fatalf("accepted %q as role %d, name %q", data[:used], role, name)
			}
			if name != "" && checkRelayName(name) != nil {
				t.Fatalf("accepted the name %q", name)
			}
			return
		}
		if bad != nil {
			enc := bad.encode()
			if enc[0] != relayBadHello || int(enc[1]) != len(enc)-2 || !utf8.Valid(enc[2:]) {
				t.Fatalf("refusal % x", enc)
			}
		}
	})
}

// answerConn is a relay's answer, as its peer reads it.
type answerConn struct {
	io.Reader
	net.Conn // nil: only the methods below are called
}

func (c answerConn) Read(b []byte) (int, error)  { return c.Reader.Read(b) }
func (c answerConn) Write(b []byte) (int, error) { return len(b), nil }
func (c answerConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7500}
}

// FuzzRelayAnswer: a peer's decoder of the relay's answer never panics,
// succeeds only on 00 (and 00 00 after a secret exchange it cannot pass
// here), and turns every refusal into ErrRelay with printable text.
func FuzzRelayAnswer(f *testing.F) {
	f.Add([]byte{relayOK})
	f.Add(relayRefusal{relayUnknownName, "no server named \"kv\""}.encode())
	f.Add(relayRefusal{relayLimit, strings.Repeat("é", 200)}.encode())
	f.Add([]byte{relayNameTaken})
	f.Add([]byte{relayLimit, 10, 'a', '\x1b', '[', '3', '1', 'm'})
	f.Add([]byte{0x42})
	f.Fuzz(func(t *testing.T, data []byte) {
		err := relayHello(answerConn{Reader: bytes.NewReader(data)}, relayConnect, "kv", nil)
		if err == nil {
			if len(data) == 0 || data[0] != relayOK {
				t.Fatalf("accepted % x", data)
			}
			return
		}
		if errors.Is(err, ErrRelay) {
			var re *RelayError
			if !errors.As(err, &re) || !errors.Is(err, ErrConnect) || re.Code == CodeOK || CodeOf(err) != re.Code {
				t.Fatalf("refusal %v", err)
			}
			for _, r := range re.Reason {
				if r < ' ' || r == 0x7f {
					t.Fatalf("the reason %q holds a control character", re.Reason)
				}
			}
			if len(re.Reason) > 3*maxRelayReason {
				t.Fatalf("a reason of %d bytes", len(re.Reason))
			}
		}
	})
}

// TestRelayRefusalCodes: every refusal status is an error with its code
// and reason, matching ErrRelay and ErrConnect, and back.
func TestRelayRefusalCodes(t *testing.T) {
	for status, code := range relayRefusalCodes {
		f := relayRefusal{status, "why " + code.String()}
		err := relayHello(answerConn{Reader: bytes.NewReader(f.encode())}, relayConnect, "kv", nil)
		var re *RelayError
		if !errors.As(err, &re) || re.Code != code || CodeOf(err) != code || !errors.Is(err, code) || re.Reason != f.reason || relayStatusOf(err) != status || !errors.Is(err, ErrRelay) || !errors.Is(err, ErrConnect) {
			t.Errorf("status %#x: %v, want %s %q", status, err, code, f.reason)
		}
		if want := "the relay at 127.0.0.1:7500 refused: " + code.String() + ": " + f.reason; err.Error() != want {
			t.Errorf("status %#x: %q, want %q", status, err, want)
		}
		var ce *CloseError
		if errors.As(err, &ce) {
			t.Errorf("status %#x: a *CloseError (the server did not answer)", status)
		}
		// An older relay closes without a reason: the status's own.
		err = relayHello(answerConn{Reader: bytes.NewReader([]byte{status})}, relayConnect, "kv", nil)
		if !errors.As(err, &re) || re.Code != code || re.Reason != relayDefaultReasons[status] {
			t.Errorf("status %#x without a reason: %v", status, err)
		}
	}
	long := relayRefusal{relayLimit, strings.Repeat("é", 200)}.encode()
	if len(long) != 2+254 || !utf8.Valid(long[2:]) {
		t.Errorf("a 400-byte reason is sent as %d bytes", len(long)-2)
	}
}

// TestPipeBounded: a client that reads nothing makes the relay hold one
// copy buffer of what its server sends, no more, and ends the pipe after
// the write timeout; the server's writes then fail.
func TestPipeBounded(t *testing.T) {
	clientEnd, relayClient := net.Pipe() // the client never reads clientEnd
	relayServer, serverEnd := net.Pipe()
	defer clientEnd.Close()
	const buf = 4 << 10
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(relayClient, relayServer, buf, 200*time.Millisecond, nil)
	}()
	var sent int
	chunk := make([]byte, 1024)
	for {
		serverEnd.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, err := serverEnd.Write(chunk)
		sent += n
		if err != nil {
			break
		}
		if sent > 1<<20 {
			t.Fatalf("the relay took %d bytes for a client that reads nothing", sent)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the pipe did not end after the write timeout")
	}
	if sent > buf+len(chunk) {
		t.Errorf("the relay took %d bytes for a client that reads nothing; its buffer is %d", sent, buf)
	}
	serverEnd.Close()
}

// TestJitter: waits are drawn from the upper half of the back-off.
func TestJitter(t *testing.T) {
	seen := map[bool]bool{}
	for range 1000 {
		d := jitter(time.Second)
		if d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("jitter(1s) = %v", d)
		}
		seen[d < 750*time.Millisecond] = true
	}
	if len(seen) != 2 {
		t.Error("jitter(1s) is not spread over [0.5s, 1s]")
	}
}

// TestRetryRelay: ServeRelay retries what retrying may mend, and gives up
// on the rest; a name taken is its own again only once it was registered.
func TestRetryRelay(t *testing.T) {
	refused := func(status byte) error { return relayRefusal{status, "why"}.err("127.0.0.1:7500") }
	for _, c := range []struct {
		what       string
		err        error
		registered bool
		want       bool
	}{
		{"the name taken, first registration", refused(relayNameTaken), false, false},
		{"the name taken, after a registration", refused(relayNameTaken), true, true},
		{"a limit", refused(relayLimit), false, true},
		{"the server's connection failed", refused(relayUnavailable), false, true},
		{"a bad hello", refused(relayBadHello), true, false},
		{"an unknown name", refused(relayUnknownName), true, false},
		{"the relay's secret refused", &CloseError{Code: CodeAuthFailed, Reason: "the relay: wrong", Remote: true}, true, false},
		{"not a relay", fmt.Errorf("%w: the relay answered 0x42", ErrNotIfkit), true, false},
		{"nothing listening", fmt.Errorf("%w to the relay: connection refused", ErrConnect), true, true},
	} {
		if got := retryRelay(c.err, c.registered); got != c.want {
			t.Errorf("%s: retry %v, want %v", c.what, got, c.want)
		}
	}
}
