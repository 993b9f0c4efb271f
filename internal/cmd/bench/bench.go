// Package bench implements `ifctl bench`: throughput and round-trip latency
// against any ifkit server.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// DefaultDuration bounds each phase (throughput, round trip) unless
// --duration says otherwise.
const DefaultDuration = 5 * time.Second

// progressEvery is how often the progress line on a terminal is redrawn.
const progressEvery = 250 * time.Millisecond

// Options are the inputs of `ifctl bench`.
type Options struct {
	IO       *cmdutil.IOStreams
	Addr     string
	Iface    string
	Type     string        // the message type to send or receive; "" picks one
	Count    int           // messages (and round trips) per phase; 0: until Duration
	Size     int           // bytes to fill the sent type's first bytes/string field with; -1: the example as it is
	Duration time.Duration // bounds each phase
	Output   cmdutil.Format
	Conn     cmdutil.ConnFlags // --timeout bounds connecting; TLS and secret flags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "bench ADDR IFACE",
		Short: "Measure throughput and round-trip latency against a server",
		Long: `Measure one connection to the interface IFACE served at ADDR, through the same path
an application uses (credits, codec, checks):

  throughput   on an interface the server sends on: receive its messages and count
               them (--type: only that type); on one the server receives (or a duplex
               one without --type naming a server-sent type): send messages as fast as
               credits allow. Messages sent are the type's first example (a zero value
               without one); --size fills its first bytes or string field with B bytes.
  round trip   when the type (--type, or the first request type with a single reply)
               declares a reply: call it one request at a time; p50, p90, p99, max.

Each phase ends after -n messages (or round trips) or --duration, whichever comes
first. Results go to stdout (-o text, json or yaml); on a terminal a progress line
is drawn on stderr. Nothing in the measurement is specific to ifctl: it is what
an iface.Client sees.

` + cmdutil.AddrHelp,
		Example: `  ifctl bench unix:///tmp/sensors.sock sensors.temperature --duration 10s
  ifctl bench 127.0.0.1:7400 logs.sink --size 1024 -n 100000 -o json
  ifctl bench unix:kv.sock db.kv --type Get -n 10000`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface = args[0], args[1]
			switch {
			case opts.Count < 0:
				return cmdutil.UsageError(fmt.Errorf("-n must be >= 0 (0: until --duration), not %d", opts.Count))
			case opts.Duration <= 0:
				return cmdutil.UsageError(fmt.Errorf("--duration must be > 0, not %s", opts.Duration))
			case opts.Size < -1:
				return cmdutil.UsageError(fmt.Errorf("--size must be >= 0, not %d", opts.Size))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Type, "type", "", "message type to send or receive (default: picked from the manifest)")
	cmd.Flags().IntVarP(&opts.Count, "count", "n", 0, "messages, and round trips, per phase (0: until --duration)")
	cmd.Flags().IntVar(&opts.Size, "size", -1, "fill the sent message's first bytes or string field with this many bytes")
	cmd.Flags().DurationVar(&opts.Duration, "duration", DefaultDuration, "longest time per phase")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up connecting after this long")
	return cmd
}

// Report is the result, as -o json prints it.
type Report struct {
	Interface  string      `json:"interface"`
	Version    string      `json:"version"`
	Addr       string      `json:"addr"`
	Codec      string      `json:"codec"`
	Throughput *Throughput `json:"throughput,omitempty"`
	RTT        *RTT        `json:"rtt,omitempty"`
	Notes      []string    `json:"notes,omitempty"` // why a phase did not run
}

// Throughput is the throughput phase's result.
type Throughput struct {
	Mode     string  `json:"mode"` // "receive" or "send"
	Type     string  `json:"type"` // "" when receiving every type
	Messages int64   `json:"messages"`
	Bytes    int64   `json:"bytes"` // encoded message bodies
	Seconds  float64 `json:"seconds"`
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"` // 10^6 bytes
	// PeerConsumed (send) is how many of the messages the server had
	// consumed at the end, as its credit grants acknowledged (they lag by up
	// to half a credit window).
	PeerConsumed *uint64 `json:"peer_consumed,omitempty"`
}

// RTT is the round-trip phase's result.
type RTT struct {
	Type  string  `json:"type"`
	Reply string  `json:"reply"`
	Bytes int     `json:"bytes"` // the encoded request
	Calls int     `json:"calls"`
	P50us float64 `json:"p50_us"`
	P90us float64 `json:"p90_us"`
	P99us float64 `json:"p99_us"`
	MaxUs float64 `json:"max_us"`
}

// plan is what Run measures.
type plan struct {
	receive bool                  // throughput by receiving
	recvOf  *manifest.MessageType // receive only this type (nil: every type)
	send    *manifest.MessageType // throughput by sending this type
	call    *manifest.MessageType // round trips with this request type
	notes   []string
}

// choose picks the phases for manifest m and the --type name (maybe "").
// The client sends m.Recv types and receives m.Send types.
func choose(m *manifest.Manifest, typ string) (plan, error) {
	var p plan
	isReply := map[string]bool{}
	for _, t := range m.Recv {
		if t.Reply != nil {
			isReply[t.Reply.Type] = true
		}
	}
	if typ != "" {
		t, ok := m.Type(typ)
		if !ok {
			return p, cmdutil.UsageError(fmt.Errorf("%s has no message type %q; see ifctl describe ADDR %s", m.Name, typ, m.Name))
		}
		switch {
		case t.Direction == manifest.Send:
			p.receive, p.recvOf = true, t
		case t.Reply == nil:
			p.send = t
		case t.Reply.Stream:
			return p, cmdutil.UsageError(fmt.Errorf("%s is answered by a stream of replies; bench measures single replies (pick another --type)", typ))
		default:
			p.call = t
			p.notes = append(p.notes, fmt.Sprintf("throughput: %s is a request; its round trip is measured instead", typ))
		}
		return p, nil
	}
	var streamed, sendable []*manifest.MessageType
	for _, t := range m.Send {
		if !isReply[t.Name] {
			streamed = append(streamed, t)
		}
	}
	for _, t := range m.Recv {
		switch {
		case t.Reply == nil:
			sendable = append(sendable, t)
		case !t.Reply.Stream && p.call == nil:
			p.call = t
		}
	}
	switch {
	case m.Direction == manifest.Send && len(streamed) > 0:
		p.receive = true
	case len(sendable) > 0:
		p.send = sendable[0]
	case len(streamed) > 0:
		p.receive = true
	default:
		p.notes = append(p.notes, "throughput: the server streams no message types and the client can send only requests")
	}
	if p.call == nil {
		p.notes = append(p.notes, "round trip: no message type the client sends declares a single reply")
	}
	return p, nil
}

// counter counts the messages the connection receives outside calls.
type counter struct {
	only        atomic.Pointer[manifest.MessageType] // count only this type (nil: every type)
	msgs, bytes atomic.Int64
	want        atomic.Int64 // close reached when msgs gets here (0: never)
	reached     chan struct{}
	reachedOnce sync.Once
}

func (c *counter) handle(_ context.Context, m *iface.Message) error {
	if only := c.only.Load(); only != nil && m.Type != only {
		return nil
	}
	c.bytes.Add(int64(len(m.Data)))
	if n, want := c.msgs.Add(1), c.want.Load(); want > 0 && n >= want {
		c.reachedOnce.Do(func() { close(c.reached) })
	}
	return nil
}

// Run connects, measures and prints the report.
func Run(ctx context.Context, opts *Options) error {
	cctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	client, err := cmdutil.Dial(cctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer client.Close()
	cnt := &counter{reached: make(chan struct{})}
	conn, err := client.Connect(cctx, opts.Iface, iface.WithCatchAll(cnt.handle))
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	defer conn.Close("ifctl bench done")
	m := conn.Manifest()
	p, err := choose(m, opts.Type)
	if err != nil {
		return err
	}
	rep := Report{Interface: m.Name, Version: m.Version, Addr: client.Addr().String(), Codec: conn.Codec().Name(), Notes: p.notes}
	switch {
	case p.receive:
		cnt.only.Store(p.recvOf)
		rep.Throughput, err = receive(ctx, opts, conn, cnt)
	case p.send != nil:
		rep.Throughput, err = send(ctx, opts, conn, p.send)
	}
	if err != nil {
		return err
	}
	if p.call != nil {
		if rep.RTT, err = roundTrips(ctx, opts, conn, p.call); err != nil {
			return err
		}
	}
	return write(opts, &rep)
}

// receive counts what arrives until opts.Count messages or opts.Duration.
func receive(ctx context.Context, opts *Options, conn *iface.Conn, cnt *counter) (*Throughput, error) {
	typ := ""
	if only := cnt.only.Load(); only != nil {
		typ = only.Name
	}
	t0 := time.Now()
	msgs0, bytes0 := cnt.msgs.Load(), cnt.bytes.Load() // what came before t0 does not count
	if opts.Count > 0 {
		cnt.want.Store(msgs0 + int64(opts.Count))
		if cnt.msgs.Load() >= msgs0+int64(opts.Count) {
			cnt.reachedOnce.Do(func() { close(cnt.reached) })
		}
	}
	stop := showProgress(opts.IO.ErrOut, "receiving", t0, &cnt.msgs)
	timer := time.NewTimer(opts.Duration)
	defer timer.Stop()
	var err error
	select {
	case <-cnt.reached:
	case <-timer.C:
	case <-conn.Done():
		err = conn.Err()
	case <-ctx.Done():
		err = ctx.Err()
	}
	elapsed := time.Since(t0)
	stop()
	if err != nil {
		return nil, cmdutil.Explain(fmt.Errorf("receiving from %s: %w", opts.Iface, err), opts.Addr)
	}
	return rate(&Throughput{Mode: "receive", Type: typ, Messages: cnt.msgs.Load() - msgs0, Bytes: cnt.bytes.Load() - bytes0}, elapsed), nil
}

// send sends messages of type t as fast as credits allow.
func send(ctx context.Context, opts *Options, conn *iface.Conn, t *manifest.MessageType) (*Throughput, error) {
	v, size, err := value(conn.Manifest(), t, conn.Codec(), opts.Size)
	if err != nil {
		return nil, cmdutil.Problem(err.Error())
	}
	sctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var sent atomic.Int64
	t0 := time.Now()
	stop := showProgress(opts.IO.ErrOut, "sending", t0, &sent)
	for opts.Count == 0 || sent.Load() < int64(opts.Count) {
		if err := conn.Send(sctx, t.Name, v); err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				break // --duration is up
			}
			stop()
			return nil, cmdutil.Explain(fmt.Errorf("sending %s: %w", t.Name, err), opts.Addr)
		}
		sent.Add(1)
	}
	elapsed := time.Since(t0)
	stop()
	consumed := conn.PeerConsumed()
	n := sent.Load()
	return rate(&Throughput{Mode: "send", Type: t.Name, Messages: n, Bytes: n * int64(size), PeerConsumed: &consumed}, elapsed), nil
}

func rate(t *Throughput, elapsed time.Duration) *Throughput {
	t.Seconds = elapsed.Seconds()
	if t.Seconds > 0 {
		t.MsgsPerS = float64(t.Messages) / t.Seconds
		t.MBPerS = float64(t.Bytes) / 1e6 / t.Seconds
	}
	return t
}

// roundTrips calls t one request at a time.
func roundTrips(ctx context.Context, opts *Options, conn *iface.Conn, t *manifest.MessageType) (*RTT, error) {
	v, size, err := value(conn.Manifest(), t, conn.Codec(), opts.Size)
	if err != nil {
		return nil, cmdutil.Problem(err.Error())
	}
	end := time.Now().Add(opts.Duration)
	var samples []time.Duration
	var calls atomic.Int64
	stop := showProgress(opts.IO.ErrOut, "calling", time.Now(), &calls)
	defer stop()
	for (opts.Count == 0 || len(samples) < opts.Count) && (len(samples) == 0 || time.Now().Before(end)) {
		t0 := time.Now()
		if _, err := conn.Call(ctx, t.Name, v); err != nil {
			return nil, cmdutil.Explain(fmt.Errorf("calling %s: %w", t.Name, err), opts.Addr)
		}
		samples = append(samples, time.Since(t0))
		calls.Add(1)
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		return float64(samples[min(int(q*float64(len(samples))), len(samples)-1)].Nanoseconds()) / 1e3
	}
	return &RTT{Type: t.Name, Reply: t.Reply.Type, Bytes: size, Calls: len(samples),
		P50us: at(0.50), P90us: at(0.90), P99us: at(0.99), MaxUs: at(1)}, nil
}

// showProgress redraws a progress line on w while a phase runs, when w is a
// terminal; the returned function stops it and clears the line.
func showProgress(w io.Writer, what string, t0 time.Time, n *atomic.Int64) (stop func()) {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
				k := n.Load()
				fmt.Fprintf(w, "\r\033[K%s: %d, %.0f/s", what, k, float64(k)/time.Since(t0).Seconds())
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

func write(opts *Options, rep *Report) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSON(opts.IO.Out, rep)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, rep)
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	// The interface's name, version and types are the live manifest's.
	fmt.Fprintf(tw, "interface\t%s %s at %s, codec %s\n", cmdutil.Untrusted(rep.Interface), cmdutil.Untrusted(rep.Version), rep.Addr, cmdutil.Untrusted(rep.Codec))
	if t := rep.Throughput; t != nil {
		what := cmdutil.Untrusted(t.Type)
		if what == "" {
			what = "every type"
		}
		fmt.Fprintf(tw, "throughput\t%s %s: %d messages, %d bytes in %.3fs: %.0f msgs/s, %.2f MB/s\n",
			t.Mode, what, t.Messages, t.Bytes, t.Seconds, t.MsgsPerS, t.MBPerS)
		if t.PeerConsumed != nil {
			fmt.Fprintf(tw, "\tconsumed by the server: %d (acknowledged so far)\n", *t.PeerConsumed)
		}
	}
	if r := rep.RTT; r != nil {
		fmt.Fprintf(tw, "round trip\t%s → %s, %d B: %d calls: p50 %.1f µs, p90 %.1f µs, p99 %.1f µs, max %.1f µs\n",
			cmdutil.Untrusted(r.Type), cmdutil.Untrusted(r.Reply), r.Bytes, r.Calls, r.P50us, r.P90us, r.P99us, r.MaxUs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(opts.IO.ErrOut, "note:", cmdutil.Untrusted(n))
	}
	if rep.Throughput == nil && rep.RTT == nil {
		return errors.New("nothing to measure on " + rep.Interface)
	}
	return nil
}
