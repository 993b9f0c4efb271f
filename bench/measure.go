package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The measures.
const (
	mThroughput = "throughput"
	mRTT        = "rtt"
	mMemory     = "memory"
	mScaling    = "scaling"
)

var measures = []string{mThroughput, mRTT, mMemory, mScaling}

// rttPayload is the size of a round trip's request and reply.
const rttPayload = 64

// scalePayload is the message size of the scaling measure.
const scalePayload = 1 << 10

// stepTimeout bounds one measurement, so that a hang shows as an error.
const stepTimeout = 3 * time.Minute

// settle is how long the memory measures wait after the last connection
// opened, for connections' background set-up (settings frames, keepalive
// timers) to finish before the heap is read.
const settle = 300 * time.Millisecond

// params are the sizes of one run (-quick or full).
type params struct {
	reps       int         // repetitions of each throughput run; the median is kept
	counts     map[int]int // messages per repetition, by payload size
	rttN       int         // round trips sampled
	memConns   int         // idle connections opened for the memory measure
	scaleConns []int       // connection counts of the scaling measure
	scaleTotal int         // messages per scaling repetition, over all connections
	scaleReps  int
	memprofile string // when set, the memory measure writes heap profiles named after it
	memoryHere bool   // the memory measure runs in this process (memoryApart's child)
	noWarmup   bool   // throughput: no warm-up stream (instruction counts of a fixed count)
}

var (
	fullParams = params{
		reps:       5,
		counts:     map[int]int{64: 1_000_000, 1 << 10: 300_000, 64 << 10: 10_000},
		rttN:       20_000,
		memConns:   2000,
		scaleConns: []int{1, 10, 100, 1000},
		scaleTotal: 200_000,
		scaleReps:  3,
	}
	quickParams = params{
		reps:       3,
		counts:     map[int]int{64: 100_000, 1 << 10: 30_000, 64 << 10: 1_000},
		rttN:       2_000,
		memConns:   200,
		scaleConns: []int{1, 10, 100, 1000},
		scaleTotal: 50_000,
		scaleReps:  1,
	}
)

// payloadOf returns n bytes of random content.
func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

// guard runs f with ctx bounded by stepTimeout and returns f's error, or a
// timeout error without waiting for f when it hangs.
func guard(ctx context.Context, what string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s: no result within %s", what, stepTimeout)
	}
}

// start starts sys on transport and fills in r.NA when it cannot.
func start(sys system, transport string, r *Result) (server, bool) {
	srv, err := sys.Start(transport)
	if errors.Is(err, errNA) {
		r.NA = fmt.Sprintf("%s has no %s transport", sys.Name(), transport)
		return nil, false
	}
	if err != nil {
		r.Err = err.Error()
		return nil, false
	}
	return srv, true
}

// throughput streams p.counts[size] messages p.reps times over one link and
// keeps the median rate.
func throughput(ctx context.Context, sys system, transport string, size int, p params) Result {
	r := Result{Measure: mThroughput, System: sys.Name(), Transport: transport, Payload: size, Conns: 1}
	srv, ok := start(sys, transport, &r)
	if !ok {
		return r
	}
	defer srv.Close()
	n := p.counts[size]
	payload := payloadOf(size)
	err := guard(ctx, "throughput", func(ctx context.Context) error {
		l, err := srv.Open(ctx)
		if err != nil {
			return err
		}
		defer l.Close()
		if !p.noWarmup {
			if err := l.Stream(ctx, payload, max(n/10, 1)); err != nil { // warm-up
				return err
			}
		}
		reps := make([]repCost, 0, p.reps)
		for range p.reps {
			runtime.GC()
			before := sampleBefore()
			if err := l.Stream(ctx, payload, n); err != nil {
				return err
			}
			reps = append(reps, sampleAfter().since(before, n))
		}
		slices.SortFunc(reps, func(a, b repCost) int { return cmp.Compare(a.rate, b.rate) })
		m := reps[len(reps)/2]
		r.setRate(m.rate, size)
		r.CPUus, r.Cores, r.AllocsPerMsg, r.BytesPerMsg = &m.cpuUs, &m.cores, &m.allocs, &m.bytes
		if m.reads >= 0 {
			r.ReadsPerMsg, r.WritesPerMsg = &m.reads, &m.writes
		}
		return nil
	})
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// costSample is the process's clocks and allocation counters at a moment.
type costSample struct {
	wall          time.Time
	cpu           time.Duration // user + system, all threads
	mallocs, heap uint64
	io            ioCounts
}

// sampleBefore reads the counters, then the clocks; sampleAfter the
// clocks first: ReadMemStats stops the world, which is not timed.
func sampleBefore() costSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	io := readIOCounts()
	return costSample{wall: time.Now(), cpu: cpuTime(), mallocs: ms.Mallocs, heap: ms.TotalAlloc, io: io}
}

func sampleAfter() costSample {
	s := costSample{wall: time.Now(), cpu: cpuTime()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mallocs, s.heap = ms.Mallocs, ms.TotalAlloc
	s.io = readIOCounts()
	return s
}

// ioCounts is the process's read and write system calls so far (sockets
// included), from /proc/self/io; -1 where it cannot be read.
type ioCounts struct{ reads, writes int64 }

func readIOCounts() ioCounts {
	c := ioCounts{-1, -1}
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return c
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "syscr":
			c.reads = n
		case "syscw":
			c.writes = n
		}
	}
	return c
}

// repCost is one repetition's rate and costs per message.
type repCost struct{ rate, cpuUs, cores, allocs, bytes, reads, writes float64 }

func (s costSample) since(b costSample, n int) repCost {
	wall := s.wall.Sub(b.wall).Seconds()
	cpu := (s.cpu - b.cpu).Seconds()
	return repCost{
		rate:   float64(n) / wall,
		cpuUs:  cpu * 1e6 / float64(n),
		cores:  cpu / wall,
		allocs: float64(s.mallocs-b.mallocs) / float64(n),
		bytes:  float64(s.heap-b.heap) / float64(n),
		reads:  perMsg(s.io.reads, b.io.reads, n),
		writes: perMsg(s.io.writes, b.io.writes, n),
	}
}

// perMsg is (after − before) / n, or −1 when a count is missing. The two
// reads of /proc/self/io are left out.
func perMsg(after, before int64, n int) float64 {
	if after < 0 || before < 0 {
		return -1
	}
	return float64(max(after-before-2, 0)) / float64(n)
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rtt samples p.rttN round trips of rttPayload bytes over one link.
func rtt(ctx context.Context, sys system, transport string, p params) Result {
	r := Result{Measure: mRTT, System: sys.Name(), Transport: transport, Payload: rttPayload, Conns: 1}
	srv, ok := start(sys, transport, &r)
	if !ok {
		return r
	}
	defer srv.Close()
	payload := payloadOf(rttPayload)
	err := guard(ctx, "rtt", func(ctx context.Context) error {
		l, err := srv.Open(ctx)
		if err != nil {
			return err
		}
		defer l.Close()
		for range max(p.rttN/10, 100) { // warm-up
			if err := l.RoundTrip(ctx, payload); err != nil {
				return err
			}
		}
		runtime.GC()
		samples := make([]time.Duration, p.rttN)
		for i := range samples {
			t0 := time.Now()
			if err := l.RoundTrip(ctx, payload); err != nil {
				return err
			}
			samples[i] = time.Since(t0)
		}
		slices.Sort(samples)
		p50 := micros(samples[len(samples)/2])
		p99 := micros(samples[len(samples)*99/100])
		r.RTTP50us, r.RTTP99us = &p50, &p99
		return nil
	})
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// heapStack is the memory a measure counts: live heap and goroutine stacks,
// after a full collection.
func heapStack() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// perConn returns the memory added since base, per connection, in KiB.
func perConn(base uint64, n int) *float64 {
	now := heapStack()
	kib := (float64(now) - float64(base)) / float64(n) / 1024
	return &kib
}

// memory opens p.memConns idle links (both ends in this process) and
// measures what each adds.
func memory(ctx context.Context, sys system, transport string, p params) Result {
	r := Result{Measure: mMemory, System: sys.Name(), Transport: transport, Conns: p.memConns}
	srv, ok := start(sys, transport, &r)
	if !ok {
		return r
	}
	defer srv.Close()
	var links []link
	defer func() { closeAll(links) }()
	err := guard(ctx, "memory", func(ctx context.Context) error {
		base, g0 := heapStack(), runtime.NumGoroutine()
		for range p.memConns {
			l, err := srv.Open(ctx)
			if err != nil {
				return err
			}
			links = append(links, l)
		}
		time.Sleep(settle)
		r.MemKiB = perConn(base, p.memConns)
		g := float64(runtime.NumGoroutine()-g0) / float64(p.memConns)
		r.Goroutines = &g
		if p.memprofile != "" {
			return writeHeapProfile(fmt.Sprintf("%s.%s.%s", p.memprofile, sys.Name(), transport))
		}
		return nil
	})
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// memoryApart runs the memory measure of sys on transport in a process of
// its own: this program again, with -memory-in-process. Measured one after
// another in one process, each system would count what the ones before it
// left in the runtime: goroutines kept for reuse with their stacks, the
// initial goroutine stack size Go adapts to the stacks its last collection
// scanned (4 KiB after some), heap not yet collected. Bare yamux measured
// after ifkit-proto read 43.5 KiB per connection that way while ifkit's
// closed sessions were still live, 33.5 once they were not; 35.4 alone.
func memoryApart(ctx context.Context, sys system, transport string, p params) Result {
	r := Result{Measure: mMemory, System: sys.Name(), Transport: transport, Conns: p.memConns}
	exe, err := os.Executable()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	args := []string{
		"-memory-in-process", "-json",
		"-only=" + sys.Name() + "," + mMemory + "," + transport,
		fmt.Sprintf("-mem-conns=%d", p.memConns),
		fmt.Sprintf("-stream-window=%d", transportConfig.StreamWindow),
		fmt.Sprintf("-coalesce-writes=%t", coalesceWrites),
	}
	if p.memprofile != "" {
		args = append(args, "-memprofile="+p.memprofile)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	out, runErr := cmd.Output() // it exits 1 when its result has an error
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var got Result
		if err := dec.Decode(&got); err != nil {
			break
		}
		if got.Measure == mMemory && got.System == r.System && got.Transport == transport {
			return got
		}
	}
	r.Err = fmt.Sprintf("the memory measure's own process gave no result (%v)", runErr)
	return r
}

// writeHeapProfile writes the live heap (after the GC heapStack ran) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// closeAll closes links, several at a time.
func closeAll(links []link) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, l := range links {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			l.Close()
		})
	}
	wg.Wait()
}

// scaling streams p.scaleTotal messages of scalePayload bytes spread over
// 1, 10, 100, 1000 links at once, and measures the memory per link with
// every link open after it has streamed.
func scaling(ctx context.Context, sys system, transport string, p params) []Result {
	var out []Result
	r0 := Result{Measure: mScaling, System: sys.Name(), Transport: transport, Payload: scalePayload}
	srv, ok := start(sys, transport, &r0)
	if !ok {
		for _, k := range p.scaleConns {
			r := r0
			r.Conns = k
			out = append(out, r)
		}
		return out
	}
	defer srv.Close()
	payload := payloadOf(scalePayload)
	var links []link
	defer func() { closeAll(links) }()
	base := heapStack()
	for _, k := range p.scaleConns {
		r := r0
		r.Conns = k
		err := guard(ctx, "scaling", func(ctx context.Context) error {
			for len(links) < k {
				l, err := srv.Open(ctx)
				if err != nil {
					return err
				}
				links = append(links, l)
			}
			each := max(p.scaleTotal/k, 1)
			if err := streamAll(ctx, links, payload, max(each/10, 1)); err != nil { // warm-up
				return err
			}
			rates := make([]float64, 0, p.scaleReps)
			for range p.scaleReps {
				runtime.GC()
				t0 := time.Now()
				if err := streamAll(ctx, links, payload, each); err != nil {
					return err
				}
				rates = append(rates, float64(each*k)/time.Since(t0).Seconds())
			}
			r.setRate(median(rates), scalePayload)
			r.MemKiB = perConn(base, k)
			return nil
		})
		if err != nil {
			r.Err = err.Error()
		}
		out = append(out, r)
		if err != nil {
			break
		}
	}
	return out
}

// streamAll streams n messages over every link at once.
func streamAll(ctx context.Context, links []link, payload []byte, n int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(links))
	for i, l := range links {
		wg.Go(func() { errs[i] = l.Stream(ctx, payload, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
