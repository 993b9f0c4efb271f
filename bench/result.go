package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Result is one line of output: one measure of one system on one transport
// at one payload size and connection count. Fields that do not apply to the
// measure are null in JSON.
type Result struct {
	Measure   string   `json:"measure"`
	System    string   `json:"system"`
	Transport string   `json:"transport"`
	Payload   int      `json:"payload"` // bytes per message (0 for memory)
	Conns     int      `json:"conns"`
	MsgsPerS  *float64 `json:"msgs_per_s"`
	MBPerS    *float64 `json:"mb_per_s"` // payload bytes, 10^6 per MB
	RTTP50us  *float64 `json:"rtt_p50_us"`
	RTTP99us  *float64 `json:"rtt_p99_us"`
	MemKiB    *float64 `json:"mem_per_conn_kib"`
	// Goroutines (memory) is how many goroutines each idle connection
	// keeps, both ends.
	Goroutines *float64 `json:"goroutines_per_conn"`
	// The ratios divide this line's headline figure (msgs_per_s for
	// throughput and scaling, rtt_p50_us for rtt, mem_per_conn_kib for
	// memory) by the same figure of the peer on the same transport, payload
	// and connection count in this run; NATS's on TCP, its one transport.
	RatioGRPC  *float64 `json:"ratio_grpc"`
	RatioYamux *float64 `json:"ratio_yamux"`
	RatioNATS  *float64 `json:"ratio_nats"`
	// Throughput: the receiving process's cost per message at the median
	// repetition: CPU time (both ends, user + system, from getrusage) per
	// message, cores busy (CPU time / wall time), and heap allocations and
	// bytes per message (runtime.MemStats, both ends).
	CPUus        *float64 `json:"cpu_us_per_msg"`
	Cores        *float64 `json:"cores"`
	AllocsPerMsg *float64 `json:"allocs_per_msg"`
	BytesPerMsg  *float64 `json:"alloc_bytes_per_msg"`
	// ReadsPerMsg and WritesPerMsg (throughput) are the process's read and
	// write system calls per message (both ends; /proc/self/io, Linux).
	ReadsPerMsg  *float64 `json:"reads_per_msg"`
	WritesPerMsg *float64 `json:"writes_per_msg"`
	// VsOneConn (scaling) divides msgs_per_s by the same system's with one
	// connection.
	VsOneConn *float64 `json:"vs_one_conn"`
	NA        string   `json:"na,omitempty"`  // why the combination cannot run
	Err       string   `json:"err,omitempty"` // why the measurement failed
}

func (r *Result) setRate(msgs float64, size int) {
	mb := msgs * float64(size) / 1e6
	r.MsgsPerS, r.MBPerS = &msgs, &mb
}

// headline is the figure ratios compare.
func (r *Result) headline() *float64 {
	switch r.Measure {
	case mRTT:
		return r.RTTP50us
	case mMemory:
		return r.MemKiB
	}
	return r.MsgsPerS
}

// addRatios fills in each result's ratios to its peers in results.
func addRatios(results []Result) {
	find := func(r *Result, system, transport string, conns int) *float64 {
		for i := range results {
			p := &results[i]
			if p.Measure == r.Measure && p.System == system && p.Transport == transport &&
				p.Payload == r.Payload && p.Conns == conns {
				return p.headline()
			}
		}
		return nil
	}
	div := func(a, b *float64) *float64 {
		if a == nil || b == nil || *b == 0 {
			return nil
		}
		v := *a / *b
		return &v
	}
	for i := range results {
		r := &results[i]
		h := r.headline()
		r.RatioGRPC = div(h, find(r, "grpc", r.Transport, r.Conns))
		r.RatioYamux = div(h, find(r, "yamux", r.Transport, r.Conns))
		r.RatioNATS = div(h, find(r, "nats", "tcp", r.Conns))
		if r.Measure == mScaling && r.Conns != 1 {
			r.VsOneConn = div(h, find(r, r.System, r.Transport, 1))
		}
	}
}

// writeJSON writes one JSON object per line.
func writeJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// writeTables writes one Markdown table per measure.
func writeTables(w io.Writer, results []Result) {
	type column struct {
		head string
		cell func(r *Result) string
	}
	var (
		payload = column{"payload", func(r *Result) string { return size(r.Payload) }}
		conns   = column{"conns", func(r *Result) string { return fmt.Sprint(r.Conns) }}
		msgs    = column{"msgs/s", func(r *Result) string { return num(r.MsgsPerS) }}
		mbs     = column{"MB/s", func(r *Result) string { return fixed(r.MBPerS, 0) }}
		p50     = column{"p50 µs", func(r *Result) string { return fixed(r.RTTP50us, 1) }}
		p99     = column{"p99 µs", func(r *Result) string { return fixed(r.RTTP99us, 1) }}
		mem     = column{"KiB/conn", func(r *Result) string { return fixed(r.MemKiB, 1) }}
		gor     = column{"goroutines/conn", func(r *Result) string { return fixed(r.Goroutines, 1) }}
		grpc    = column{"×gRPC", func(r *Result) string { return fixed(r.RatioGRPC, 2) }}
		yamux   = column{"×yamux", func(r *Result) string { return fixed(r.RatioYamux, 2) }}
		nats    = column{"×NATS", func(r *Result) string { return fixed(r.RatioNATS, 2) }}
		one     = column{"×1 conn", func(r *Result) string { return fixed(r.VsOneConn, 2) }}
		cpu     = column{"CPU µs/msg", func(r *Result) string { return fixed(r.CPUus, 2) }}
		cores   = column{"cores", func(r *Result) string { return fixed(r.Cores, 2) }}
		allocs  = column{"allocs/msg", func(r *Result) string { return fixed(r.AllocsPerMsg, 2) }}
		bytes   = column{"B/msg", func(r *Result) string { return fixed(r.BytesPerMsg, 0) }}
		reads   = column{"reads/msg", func(r *Result) string { return fixed(r.ReadsPerMsg, 3) }}
		writes  = column{"writes/msg", func(r *Result) string { return fixed(r.WritesPerMsg, 3) }}
	)
	tables := []struct {
		measure, title string
		cols           []column
	}{
		{mThroughput, "Streaming throughput (one connection; median of the repetitions)", []column{payload, msgs, mbs, grpc, yamux, nats, cpu, cores, allocs, bytes, reads, writes}},
		{mRTT, "Round trip, 64 B request and reply", []column{p50, p99, grpc, yamux, nats}},
		{mMemory, "Memory per idle connection, both ends (heap + stacks after GC)", []column{conns, mem, gor, grpc, yamux, nats}},
		{mScaling, "Scaling: 1 KiB messages over many connections at once", []column{conns, msgs, mbs, mem, one, grpc, yamux, nats}},
	}
	first := true
	for _, t := range tables {
		var rows []*Result
		for i := range results {
			if results[i].Measure == t.measure {
				rows = append(rows, &results[i])
			}
		}
		if len(rows) == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		fmt.Fprintf(w, "### %s\n\n", t.title)
		heads := []string{"system", "transport"}
		for _, c := range t.cols {
			heads = append(heads, c.head)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(heads, " | "))
		fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(heads)))
		for _, r := range rows {
			cells := []string{r.System, r.Transport}
			for _, c := range t.cols {
				switch {
				case r.NA != "":
					cells = append(cells, "n/a")
				case r.Err != "":
					cells = append(cells, "error")
				default:
					cells = append(cells, c.cell(r))
				}
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	for _, r := range results {
		if r.Err != "" {
			fmt.Fprintf(w, "\nerror: %s %s %s %s %d conns: %s\n", r.Measure, r.System, r.Transport, size(r.Payload), r.Conns, r.Err)
		}
	}
}

func size(n int) string {
	switch {
	case n == 0:
		return "-"
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// num prints a rate with an SI suffix: 1.23 M.
func num(v *float64) string {
	if v == nil {
		return ""
	}
	switch x := *v; {
	case x >= 1e6:
		return fmt.Sprintf("%.2f M", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1f k", x/1e3)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

func fixed(v *float64, prec int) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.*f", prec, *v)
}
