package cmdutil

import "github.com/ifkit/ifkit/iface"

// StatsJSON is a connection's stats as -o json and yaml print them: the
// field names of spec/PROTOCOL.md's ConnStats, numbers as numbers.
type StatsJSON struct {
	ConnectionID     uint64 `json:"connection_id,omitempty"`
	Interface        string `json:"interface"`
	SentMessages     uint64 `json:"sent_messages"`
	ReceivedMessages uint64 `json:"received_messages"`
	SentBytes        uint64 `json:"sent_bytes"`
	ReceivedBytes    uint64 `json:"received_bytes"`
	Refused          uint64 `json:"refused"`
	Dropped          uint64 `json:"dropped"`
	CreditsHeld      int64  `json:"credits_held"`
	CreditsGranted   int64  `json:"credits_granted"`
	Queued           uint64 `json:"queued"`
	Paused           bool   `json:"paused"`
	UptimeMs         int64  `json:"uptime_ms"`
	AuthFailures     uint64 `json:"auth_failures"`
	Matched          uint64 `json:"matched"`
	FilteredOut      uint64 `json:"filtered_out"`
	CreditStalls     uint64 `json:"credit_stalls"`
}

// StatsToJSON returns st as StatsJSON.
func StatsToJSON(st iface.ConnStats) StatsJSON {
	return StatsJSON{
		ConnectionID: st.ConnectionID, Interface: st.Interface,
		SentMessages: st.SentMessages, ReceivedMessages: st.ReceivedMessages,
		SentBytes: st.SentBytes, ReceivedBytes: st.ReceivedBytes,
		Refused: st.Refused, Dropped: st.Dropped,
		CreditsHeld: st.CreditsHeld, CreditsGranted: st.CreditsGranted,
		Queued: st.Queued, Paused: st.Paused,
		UptimeMs: st.Uptime.Milliseconds(), AuthFailures: st.AuthFailures,
		Matched: st.Matched, FilteredOut: st.FilteredOut, CreditStalls: st.CreditStalls,
	}
}
