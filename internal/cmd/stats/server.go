package stats

import (
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// serverJSON is an interface's counters as -o json and yaml print them:
// the field names of spec/PROTOCOL.md's InterfaceStats and TypeStats.
type serverJSON struct {
	Interface         string            `json:"interface"`
	ConnectionsOpen   uint64            `json:"connections_open"`
	ConnectionsOpened uint64            `json:"connections_opened"`
	Totals            cmdutil.StatsJSON `json:"totals"`
	Ended             map[string]uint64 `json:"ended"`
	Types             []typeJSON        `json:"types"`
	Refusals          map[string]uint64 `json:"refusals"` // the server's, of every interface
}

type typeJSON struct {
	Type         string   `json:"type"`
	Handled      uint64   `json:"handled"`
	Errors       uint64   `json:"errors"`
	ProcessingNs int64    `json:"processing_ns"`
	AverageNs    int64    `json:"average_ns"`
	LastError    string   `json:"last_error,omitempty"`
	Latency      []uint64 `json:"latency"`
}

func byName(m map[iface.Code]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for code, n := range m {
		out[code.String()] = n
	}
	return out
}

func toServerJSON(st iface.ServerStats) serverJSON {
	out := serverJSON{Refusals: byName(st.Refusals), Ended: map[string]uint64{}, Types: []typeJSON{}}
	if len(st.Interfaces) == 0 {
		return out
	}
	is := st.Interfaces[0]
	out.Interface, out.ConnectionsOpen, out.ConnectionsOpened = is.Interface, is.Open, is.Opened
	out.Totals, out.Ended = cmdutil.StatsToJSON(is.Totals), byName(is.Ended)
	for _, t := range is.Types {
		out.Types = append(out.Types, typeJSON{
			Type: t.Type, Handled: t.Handled, Errors: t.Errors,
			ProcessingNs: t.Processing.Nanoseconds(), AverageNs: t.Average().Nanoseconds(),
			LastError: t.LastError, Latency: t.Latency,
		})
	}
	return out
}

// writeServer prints one interface's counters (the server answers for the
// interface asked, so there is one).
func writeServer(opts *Options, st iface.ServerStats, n int) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, toServerJSON(st))
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, toServerJSON(st))
	}
	w := opts.IO.Out
	if n > 1 {
		fmt.Fprintln(w)
	}
	if len(st.Interfaces) == 0 {
		_, err := fmt.Fprintf(w, "no counters for %s yet\n", cmdutil.Untrusted(opts.Iface))
		return err
	}
	is := st.Interfaces[0]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	tot := is.Totals
	fmt.Fprintf(tw, "interface\t%s\n", cmdutil.Untrusted(is.Interface))
	fmt.Fprintf(tw, "connections\t%d open, %d opened since the server started\n", is.Open, is.Opened)
	fmt.Fprintf(tw, "ended\t%s\n", codeList(is.Ended))
	fmt.Fprintf(tw, "server sent\t%d messages, %d bytes\n", tot.SentMessages, tot.SentBytes)
	fmt.Fprintf(tw, "server received\t%d messages, %d bytes\n", tot.ReceivedMessages, tot.ReceivedBytes)
	fmt.Fprintf(tw, "refused\t%d received messages (invalid); dropped %d (flow policy); %d sends found no credit\n", tot.Refused, tot.Dropped, tot.CreditStalls)
	fmt.Fprintf(tw, "server refusals\t%s\n", codeList(st.Refusals))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(is.Types) == 0 {
		_, err := fmt.Fprintln(w, "\nno handler calls counted (the interface has no handlers, or none was called)")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TYPE\tHANDLED\tERRORS\tAVERAGE\tTOTAL\tLAST ERROR\n")
	for _, t := range is.Types {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", cmdutil.Untrusted(t.Type), t.Handled, t.Errors,
			roundDuration(t.Average()), roundDuration(t.Processing), cmdutil.Untrusted(t.LastError))
	}
	return tw.Flush()
}

// codeList is counts by code as text: "normal_close 3, draining 1", or
// "none".
func codeList(m map[iface.Code]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	codes := make([]iface.Code, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(a, b int) bool { return codes[a] < codes[b] })
	s := ""
	for i, c := range codes {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", c, m[c])
	}
	return s
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	}
	return d
}
