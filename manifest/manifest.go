package manifest

import (
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ifkit/ifkit/codec"
)

// FormatVersion is the manifest format version this package reads and writes
// (the top-level `ifkit:` field).
const FormatVersion = 1

// Direction is which way data flows on an interface, from the server's side.
type Direction string

// The directions.
const (
	Send   Direction = "send"   // server → client
	Recv   Direction = "recv"   // client → server
	Duplex Direction = "duplex" // both ways
)

// Sends reports whether the server sends data on an interface of direction d.
func (d Direction) Sends() bool { return d == Send || d == Duplex }

// Receives reports whether the server receives data on an interface of direction d.
func (d Direction) Receives() bool { return d == Recv || d == Duplex }

// OnExhausted is what a sender does when it has no credit left.
type OnExhausted string

// The flow policies.
const (
	Block      OnExhausted = "block"       // wait for credit (or until the context is done)
	DropOldest OnExhausted = "drop_oldest" // drop the oldest queued message to make room
	DropNewest OnExhausted = "drop_newest" // drop the message being sent
	FailFast   OnExhausted = "error"       // return an error at once
)

// Defaults filled in when a manifest leaves them out.
const (
	DefaultCredits         = 256
	DefaultMaxMessageBytes = 64 << 10
	DefaultOnExhausted     = Block
	// MaxBufferedBytes bounds credits × max_message_bytes: the memory a
	// receiver may have to hold for one connection.
	MaxBufferedBytes = 1 << 30
)

// Control operation names, as written in a manifest's `control` list.
const (
	OpPing   = "ping"
	OpStats  = "stats"
	OpPause  = "pause"
	OpResume = "resume"
	OpReset  = "reset"
	OpClose  = "close"
)

// DefaultControl is the control operations offered when a manifest does not
// list them. Reset needs a server hook, so it is offered only when listed.
var DefaultControl = []string{OpPing, OpStats, OpPause, OpResume, OpClose}

// Manifest is a loaded, checked interface description. It is immutable:
// share it freely between goroutines.
type Manifest struct {
	Name        string
	Version     string
	Title       string
	Description string
	Direction   Direction
	Codecs      []string             // offered codecs, in order of preference
	Send        []*MessageType       // what the server sends, sorted by name
	Recv        []*MessageType       // what the server receives, sorted by name
	Flow        Flow                 // limits, defaults filled in
	MessageAuth string               // per-message authentication: MessageAuthNone or MessageAuthHMAC
	Control     []string             // offered control operations; empty: no control sub-interface
	Metadata    map[string]any       // free-form, as written
	Files       *protoregistry.Files // every protobuf file the message types use
	Params      *Params              // the parameters a connection opens with; nil: none

	canonical []byte
	hash      string
}

// MessageType is one message type of an interface. Its embedded codec.Type is
// what the codecs encode and check messages against.
type MessageType struct {
	codec.Type
	Direction    Direction // Send or Recv: who sends it, from the server's side
	ID           uint32    // 1-based position in its direction's list, used on the wire
	Description  string
	Examples     [][]byte // JSON values
	Reply        *Reply   // nil when the type is not a request
	FilterFields []string
}

// Reply declares that a message type is a request and what answers it.
type Reply struct {
	Type   string // a type name of the opposite direction
	Stream bool   // a stream of replies ended by an end marker; otherwise exactly one
}

// Values of message_auth (spec/MANIFEST.md §3.3).
const (
	// MessageAuthNone: messages carry no authentication tag (the default).
	MessageAuthNone = "none"
	// MessageAuthHMAC: every message carries an HMAC-SHA256 tag keyed from
	// the session's shared secret; a message whose tag fails is dropped,
	// counted and reported, never delivered (spec/PROTOCOL.md).
	MessageAuthHMAC = "hmac-sha256"
)

// Flow holds an interface's flood-control limits.
type Flow struct {
	Credits         int         // credits a receiver grants at the start
	MaxMessageBytes int         // the largest encoded message
	OnExhausted     OnExhausted // what a sender without credit does
}

// Canonical returns the manifest's canonical form: deterministic JSON with
// every default filled in and every protobuf descriptor and JSON Schema
// embedded (spec/MANIFEST.md, "Canonical form"). Do not modify the result.
func (m *Manifest) Canonical() []byte { return m.canonical }

// Hash returns the content hash of the canonical form, "sha256:" and 64
// lower-case hex digits.
func (m *Manifest) Hash() string { return m.hash }

// Types returns the message types of direction d (Send or Recv).
func (m *Manifest) Types(d Direction) []*MessageType {
	if d == Send {
		return m.Send
	}
	return m.Recv
}

// Type returns the message type named name, in either direction.
func (m *Manifest) Type(name string) (*MessageType, bool) {
	for _, list := range [][]*MessageType{m.Send, m.Recv} {
		for _, t := range list {
			if t.Name == name {
				return t, true
			}
		}
	}
	return nil, false
}

// TypeByID returns the message type of direction d with wire id id.
func (m *Manifest) TypeByID(d Direction, id uint32) (*MessageType, bool) {
	list := m.Types(d)
	if id == 0 || int(id) > len(list) {
		return nil, false
	}
	return list[id-1], true
}

// Offers reports whether the manifest offers control operation op.
func (m *Manifest) Offers(op string) bool {
	for _, o := range m.Control {
		if o == op {
			return true
		}
	}
	return false
}
