package control

import (
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/manifest"
)

// InterfaceInfo describes one hosted interface, as List returns it.
type InterfaceInfo struct {
	Name, Version, Title string
	Direction            manifest.Direction
	ManifestHash         string
}

// ConnStats are the counters of one connection as the server sees them.
// Its fields are those of data.Stats, in the same order, so a data.Stats
// converts to it with a plain conversion.
type ConnStats struct {
	ConnectionID     uint64
	Interface        string
	SentMessages     uint64
	ReceivedMessages uint64
	SentBytes        uint64 // message bodies only
	ReceivedBytes    uint64
	Refused          uint64 // received messages refused (failed their type's checks)
	Dropped          uint64 // messages dropped by the flow policy before sending
	CreditsHeld      int64  // credit the peer granted the server and it has not used
	CreditsGranted   int64  // credit the server granted the peer and it has not used
	Queued           uint64 // messages waiting for credit
	Paused           bool
	Uptime           time.Duration
	AuthFailures     uint64 // received messages whose authentication tag was wrong
	Matched          uint64 // messages the subscriber's filter selected and the server sent
	FilteredOut      uint64 // messages the filter did not select: never sent, no credit used
	CreditStalls     uint64 // sends that found no credit (then waited, failed or dropped by the flow policy)
}

// Add adds o's traffic counters (messages, bytes, refused, dropped, auth
// failures, matched, filtered out, credit stalls) to s, as
// InterfaceStats.Totals sums connections; the id, interface, credits,
// queue, pause state and uptime are left as they are.
func (s *ConnStats) Add(o ConnStats) {
	s.SentMessages += o.SentMessages
	s.ReceivedMessages += o.ReceivedMessages
	s.SentBytes += o.SentBytes
	s.ReceivedBytes += o.ReceivedBytes
	s.Refused += o.Refused
	s.Dropped += o.Dropped
	s.AuthFailures += o.AuthFailures
	s.Matched += o.Matched
	s.FilteredOut += o.FilteredOut
	s.CreditStalls += o.CreditStalls
}

// Filter is a subscriber's filter as the control operation filter carries
// it (spec/PROTOCOL.md §4.8): at most one of CEL and Structured; neither
// removes the connection's filter.
type Filter struct {
	Type       string // the message type filtered; "" for the only filterable one
	CEL        string // a CEL expression
	Structured string // the structured form, JSON text
}

// Notification is one event a server pushes on every control stream: a
// *Draining, *InterfacesChanged, *ManifestChanged, *ConnectionOpened,
// *ConnectionClosed or *NotificationsLost. Type-switch on it.
type Notification interface{ notification() }

// Draining: the server began a graceful shutdown; it closes what remains at
// Deadline (zero: it set none).
type Draining struct{ Deadline time.Time }

// InterfacesChanged: interfaces were registered under new names, or
// unregistered.
type InterfacesChanged struct{ Added, Removed []string }

// ManifestChanged: an interface was registered again with a manifest of
// another hash. Open connections keep the old one; new ones get this one.
type ManifestChanged struct{ Interface, Hash string }

// ConnectionOpened: the server accepted a data connection. Client is the
// name the client gave (untrusted text, at most 256 bytes).
type ConnectionOpened struct {
	ConnectionID             uint64
	Interface, Codec, Client string
}

// ConnectionClosed: a connection ended, with its end code and reason
// (untrusted text, at most 1024 bytes).
type ConnectionClosed struct {
	ConnectionID uint64
	Interface    string
	Code         codes.Code
	Reason       string
}

// ServersChanged: servers registered with a relay (Learned) or left it
// (Forgotten), by name: a relay's learn and forget.
type ServersChanged struct{ Learned, Forgotten []string }

// NotificationsLost stands where Count notifications were dropped because
// the reader fell behind: the server's queue for the stream, or this
// client's buffer, was full. Nothing else is delivered between the first
// dropped notification and this one, so the order around it is exact.
type NotificationsLost struct{ Count uint64 }

func (*Draining) notification()          {}
func (*InterfacesChanged) notification() {}
func (*ManifestChanged) notification()   {}
func (*ConnectionOpened) notification()  {}
func (*ConnectionClosed) notification()  {}
func (*NotificationsLost) notification() {}
func (*ServersChanged) notification()    {}

// fromPB returns the notification n carries, or nil for an event this
// version does not know (a newer server's), which is skipped.
func fromPB(n *controlpb.Notification) Notification {
	switch e := n.GetEvent().(type) {
	case *controlpb.Notification_Draining:
		d := &Draining{}
		if ms := e.Draining.GetDeadlineUnixMs(); ms != 0 {
			d.Deadline = time.UnixMilli(ms)
		}
		return d
	case *controlpb.Notification_InterfacesChanged:
		return &InterfacesChanged{Added: e.InterfacesChanged.GetAdded(), Removed: e.InterfacesChanged.GetRemoved()}
	case *controlpb.Notification_ManifestChanged:
		return &ManifestChanged{Interface: e.ManifestChanged.GetInterface(), Hash: e.ManifestChanged.GetHash()}
	case *controlpb.Notification_ConnectionOpened:
		o := e.ConnectionOpened
		return &ConnectionOpened{ConnectionID: o.GetConnectionId(), Interface: o.GetInterface(), Codec: o.GetCodec(), Client: o.GetClient()}
	case *controlpb.Notification_ConnectionClosed:
		c := e.ConnectionClosed
		return &ConnectionClosed{ConnectionID: c.GetConnectionId(), Interface: c.GetInterface(), Code: codes.Code(c.GetCode()), Reason: c.GetReason()}
	case *controlpb.Notification_NotificationsLost:
		return &NotificationsLost{Count: e.NotificationsLost.GetCount()}
	case *controlpb.Notification_ServersChanged:
		return &ServersChanged{Learned: e.ServersChanged.GetLearned(), Forgotten: e.ServersChanged.GetForgotten()}
	}
	return nil
}

// toPB returns n's wire form, clipping the peer-given texts it repeats.
func toPB(n Notification) *controlpb.Notification {
	switch e := n.(type) {
	case *Draining:
		d := &controlpb.Draining{}
		if !e.Deadline.IsZero() {
			d.DeadlineUnixMs = e.Deadline.UnixMilli()
		}
		return &controlpb.Notification{Event: &controlpb.Notification_Draining{Draining: d}}
	case *InterfacesChanged:
		return &controlpb.Notification{Event: &controlpb.Notification_InterfacesChanged{InterfacesChanged: &controlpb.InterfacesChanged{Added: e.Added, Removed: e.Removed}}}
	case *ManifestChanged:
		return &controlpb.Notification{Event: &controlpb.Notification_ManifestChanged{ManifestChanged: &controlpb.ManifestChanged{Interface: e.Interface, Hash: e.Hash}}}
	case *ConnectionOpened:
		co := &controlpb.ConnectionOpened{ConnectionId: e.ConnectionID, Interface: e.Interface, Codec: e.Codec, Client: clip(e.Client, maxNotifiedClient)}
		return &controlpb.Notification{Event: &controlpb.Notification_ConnectionOpened{ConnectionOpened: co}}
	case *ConnectionClosed:
		cc := &controlpb.ConnectionClosed{ConnectionId: e.ConnectionID, Interface: e.Interface, Code: uint32(e.Code), Reason: clip(e.Reason, maxNotifiedReason)}
		return &controlpb.Notification{Event: &controlpb.Notification_ConnectionClosed{ConnectionClosed: cc}}
	case *NotificationsLost:
		return &controlpb.Notification{Event: &controlpb.Notification_NotificationsLost{NotificationsLost: &controlpb.NotificationsLost{Count: e.Count}}}
	case *ServersChanged:
		return &controlpb.Notification{Event: &controlpb.Notification_ServersChanged{ServersChanged: &controlpb.ServersChanged{Learned: e.Learned, Forgotten: e.Forgotten}}}
	}
	panic("control: unknown notification type")
}

func statsToPB(s ConnStats) *controlpb.ConnStats {
	return &controlpb.ConnStats{
		ConnectionId: s.ConnectionID, Interface: s.Interface,
		SentMessages: s.SentMessages, ReceivedMessages: s.ReceivedMessages,
		SentBytes: s.SentBytes, ReceivedBytes: s.ReceivedBytes,
		Refused: s.Refused, Dropped: s.Dropped,
		CreditsHeld: s.CreditsHeld, CreditsGranted: s.CreditsGranted,
		Queued: s.Queued, Paused: s.Paused,
		UptimeMs: uint64(s.Uptime.Milliseconds()), AuthFailures: s.AuthFailures,
		Matched: s.Matched, FilteredOut: s.FilteredOut,
		CreditStalls: s.CreditStalls,
	}
}

func statsFromPB(s *controlpb.ConnStats) ConnStats {
	return ConnStats{
		ConnectionID: s.GetConnectionId(), Interface: s.GetInterface(),
		SentMessages: s.GetSentMessages(), ReceivedMessages: s.GetReceivedMessages(),
		SentBytes: s.GetSentBytes(), ReceivedBytes: s.GetReceivedBytes(),
		Refused: s.GetRefused(), Dropped: s.GetDropped(),
		CreditsHeld: s.GetCreditsHeld(), CreditsGranted: s.GetCreditsGranted(),
		Queued: s.GetQueued(), Paused: s.GetPaused(),
		Uptime: time.Duration(s.GetUptimeMs()) * time.Millisecond, AuthFailures: s.GetAuthFailures(),
		Matched: s.GetMatched(), FilteredOut: s.GetFilteredOut(),
		CreditStalls: s.GetCreditStalls(),
	}
}

// Form names the form f is written in: "structured" or "cel".
func (f Filter) Form() string {
	if f.Structured != "" {
		return "structured"
	}
	return "cel"
}
