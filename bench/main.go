// Command bench measures ifkit side by side with its peers — bare yamux,
// gRPC-go and NATS core — in one run on one machine: streaming throughput,
// round-trip latency, memory per idle connection, and scaling to many
// connections. See BENCHMARKS.md at the repository root.
//
//	cd bench && go run .              # everything (several minutes)
//	go run . -quick                   # a short version (under a minute)
//	go run . -only=ifkit,grpc,rtt     # a selection; -help lists the parts
//	go run . -json                    # one JSON object per result
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	quick := flag.Bool("quick", false, "a short run: fewer messages, repetitions and connections")
	only := flag.String("only", "", onlyHelp)
	asJSON := flag.Bool("json", false, "print one JSON object per result instead of Markdown tables")
	jsonFile := flag.String("jsonfile", "", "also write the results as JSON lines to this file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	traceFile := flag.String("trace", "", "write a runtime execution trace of the whole run to this file (go tool trace FILE: which goroutines ran on which core)")
	memprofile := flag.String("memprofile", "", "write a heap profile with the memory measure's connections open to this file, suffixed .SYSTEM.TRANSPORT")
	reps := flag.Int("reps", 0, "throughput repetitions (0: 5, or 3 with -quick)")
	memConns := flag.Int("mem-conns", 0, "idle connections of the memory measure (0: 2000, or 200 with -quick)")
	count := flag.Int("count", 0, "throughput: messages per repetition, every payload (0: the defaults)")
	noWarmup := flag.Bool("no-warmup", false, "throughput: skip the warm-up stream (for instruction counts; see instr.sh)")
	window := flag.Uint("stream-window", 0, "yamux's per-stream receive window in bytes, for ifkit (Config.StreamWindow) and bare yamux alike (0: ifkit's default, 1 MiB)")
	memoryHere := flag.Bool("memory-in-process", false, "run the memory measure in this process, without progress lines (by default each memory cell runs in a process of its own, so that none counts what another left in the runtime)")
	flag.BoolVar(&coalesceWrites, "coalesce-writes", false, "an experiment: write each yamux frame's header and body in one system call (bare yamux, both ends; ifkit, the server end)")
	flag.Parse()
	if *window != 0 {
		transportConfig.StreamWindow = uint32(*window)
		if err := transportConfig.Validate(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -stream-window:", err)
			return 2
		}
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q\n", flag.Arg(0))
		return 2
	}
	sel, err := parseOnly(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	p := fullParams
	if *quick {
		p = quickParams
	}
	if *reps > 0 {
		p.reps = *reps
	}
	p.memprofile = *memprofile
	p.memoryHere = *memoryHere
	p.noWarmup = *noWarmup
	if *count > 0 {
		p.counts = map[int]int{}
		for _, size := range payloads {
			p.counts[size] = *count
		}
	}
	if *memConns > 0 {
		p.memConns = *memConns
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer trace.Stop()
	}
	prog := newProgress()
	prog.on = prog.on && !p.memoryHere // the parent reports the cell
	results := runAll(context.Background(), sel, p, prog)
	addRatios(results)
	if *jsonFile != "" {
		f, err := os.Create(*jsonFile)
		if err == nil {
			err = writeJSON(f, results)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	if *asJSON {
		if err := writeJSON(os.Stdout, results); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	} else {
		writeTables(os.Stdout, results)
	}
	for _, r := range results {
		if r.Err != "" {
			return 1
		}
	}
	return 0
}

var systems = []system{ifkitSystem{codec: "proto"}, ifkitSystem{codec: "json"}, ifkitSystem{codec: "json", schema: true}, ifkitSystem{codec: "raw"}, yamuxSystem{}, grpcSystem{}, natsSystem{}}

var transports = []string{"unix", "tcp"}

var payloads = []int{64, 1 << 10, 64 << 10}

// runAll runs the selected measures. Systems take turns within each
// transport and payload, so that they meet the same machine conditions.
func runAll(ctx context.Context, sel selection, p params, prog *progress) []Result {
	var out []Result
	add := func(rs ...Result) {
		for _, r := range rs {
			prog.done(r)
		}
		out = append(out, rs...)
	}
	each := func(f func(sys system, tr string)) {
		for _, tr := range transports {
			if !sel.transport(tr) {
				continue
			}
			for _, sys := range systems {
				if sel.system(sys.Name()) {
					f(sys, tr)
				}
			}
		}
	}
	if sel.measure(mThroughput) {
		for _, tr := range transports {
			for _, size := range payloads {
				if !sel.transport(tr) || !sel.payload(size) {
					continue
				}
				for _, sys := range systems {
					if sel.system(sys.Name()) {
						add(throughput(ctx, sys, tr, size, p))
					}
				}
			}
		}
	}
	if sel.measure(mRTT) {
		each(func(sys system, tr string) {
			add(rtt(ctx, sys, tr, p))
		})
	}
	// The codec changes nothing in an idle connection, and the other codecs'
	// scaling would be their throughput again, slowly: both measures leave
	// all but ifkit-proto out unless -only names them.
	named := func(sys system) bool {
		n := sys.Name()
		return (n != "ifkit-json" && n != "ifkit-schema" && n != "ifkit-raw") || slices.Contains(sel.systems, n)
	}
	if sel.measure(mMemory) {
		each(func(sys system, tr string) {
			if !named(sys) {
				return
			}
			if p.memoryHere {
				add(memory(ctx, sys, tr, p))
			} else {
				add(memoryApart(ctx, sys, tr, p))
			}
		})
	}
	if sel.measure(mScaling) {
		// Over Unix sockets only (NATS: TCP), where the per-connection
		// costs are not hidden by the loopback TCP stack's.
		for _, sys := range systems {
			tr := "unix"
			if sys.Name() == "nats" {
				tr = "tcp"
			}
			if sel.system(sys.Name()) && sel.transport(tr) && named(sys) {
				add(scaling(ctx, sys, tr, p)...)
			}
		}
	}
	return out
}

// progress reports each result on stderr when it is a terminal.
type progress struct {
	on   bool
	last time.Time
}

func newProgress() *progress {
	fi, err := os.Stderr.Stat()
	return &progress{on: err == nil && fi.Mode()&os.ModeCharDevice != 0, last: time.Now()}
}

func (p *progress) done(r Result) {
	if !p.on {
		return
	}
	took := time.Since(p.last).Seconds()
	p.last = time.Now()
	fmt.Fprintf(os.Stderr, "%-10s %-11s %-4s %-6s %4d conns: ", r.Measure, r.System, r.Transport, size(r.Payload), r.Conns)
	switch {
	case r.NA != "":
		fmt.Fprintf(os.Stderr, "n/a\n")
	case r.Err != "":
		fmt.Fprintf(os.Stderr, "error: %s\n", r.Err)
	case r.MsgsPerS != nil:
		fmt.Fprintf(os.Stderr, "%s msgs/s (%.1fs)\n", num(r.MsgsPerS), took)
	case r.RTTP50us != nil:
		fmt.Fprintf(os.Stderr, "p50 %.1f µs (%.1fs)\n", *r.RTTP50us, took)
	case r.MemKiB != nil:
		fmt.Fprintf(os.Stderr, "%.1f KiB/conn (%.1fs)\n", *r.MemKiB, took)
	}
}
