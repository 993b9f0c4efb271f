// Package demo implements `ifctl demo`, the README's run command: a tour of
// ifkit on its embedded example interfaces, needing no external service.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/internal/examples/manifests"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl demo`.
type Options struct {
	IO *cmdutil.IOStreams
	// Examples holds the example manifests; the embedded testdata by default.
	Examples fs.FS
	// Timeout bounds the whole tour.
	Timeout time.Duration
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(*Options) error) *cobra.Command {
	opts := &Options{IO: io, Examples: manifests.FS}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A tour of ifkit on its built-in example interfaces",
		Long: `Serve the built-in example interfaces (a sensor stream, a log sink, a key-value store,
a job queue, a pub/sub topic, an HTTP-style API, a blob stream) on a temporary Unix
socket, then act as a client: list and describe them over the control sub-interface,
stream typed messages both ways, make requests, stall a sender with credits, send an
invalid message, and put them all on HTTP through a gateway. Needs nothing but this binary; takes a few seconds.`,
		Example: `  go run ./cmd/ifctl demo`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if run != nil {
				return run(opts)
			}
			return Run(opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

// Run runs the tour. It fails if any step does not behave as shown.
func Run(opts *Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	out := opts.IO.Out
	ms, err := loadExamples(opts.Examples)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ifkit-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr := "unix://" + filepath.Join(dir, "demo.sock")

	srv := iface.NewServer()
	logged := make(chan string, 16)
	for _, i := range exampleInterfaces(ms, logged) {
		if err := srv.Register(i); err != nil {
			return err
		}
	}
	l, err := iface.Listen(ctx, addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		<-served
	}()
	fmt.Fprintf(out, "ifkit demo: a server hosts %d example interfaces on %s\n", len(ms), addr)

	cl, err := iface.Dial(ctx, addr, iface.WithClientName("ifctl demo"))
	if err != nil {
		return err
	}
	defer cl.Close()
	streamToServer := func(ctx context.Context, out io.Writer, cl *iface.Client, ms map[string]*manifest.Manifest) error {
		return sendLogs(ctx, out, cl, logged)
	}
	gateway := func(ctx context.Context, out io.Writer, _ *iface.Client, _ map[string]*manifest.Manifest) error {
		return overHTTP(ctx, out, addr)
	}
	sqlite := func(ctx context.Context, out io.Writer, _ *iface.Client, _ map[string]*manifest.Manifest) error {
		return database(ctx, out, dir)
	}
	for _, step := range []func(context.Context, io.Writer, *iface.Client, map[string]*manifest.Manifest) error{
		introspect, streamToClient, streamToServer, requests, creditStall, badInput, pubsub(srv), gateway, sqlite, queue,
	} {
		if err := step(ctx, out, cl, ms); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\nDone. Next: serve these interfaces yourself and talk to them with ifctl list, describe,\nrecv, send and call: the README's walkthrough, or docs/WALKTHROUGH.md.")
	return nil
}

func heading(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "\n== "+format+"\n", args...)
}

// introspect lists the interfaces and fetches one manifest live.
func introspect(ctx context.Context, out io.Writer, cl *iface.Client, ms map[string]*manifest.Manifest) error {
	heading(out, "1. What is on this socket? (control sub-interface: list, manifest)")
	ctl, err := cl.Control(ctx, "")
	if err != nil {
		return err
	}
	defer ctl.Close()
	list, err := ctl.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, i := range list {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\n", i.Name, i.Version, i.Direction, i.Title)
	}
	tw.Flush()
	m, err := ctl.Manifest(ctx, "db.kv", nil)
	if err != nil {
		return err
	}
	same := "the same as"
	if m.Hash() != ms["db.kv"].Hash() {
		same = "DIFFERENT from"
	}
	fmt.Fprintf(out, "\n   db.kv's manifest, fetched live (%s the file's: %s…):\n\n", same, m.Hash()[:19])
	var desc strings.Builder
	if err := cmdutil.Describe(&desc, m); err != nil {
		return err
	}
	lines := strings.Split(desc.String(), "\n")
	for _, line := range lines {
		if strings.HasPrefix(line, "server sends") {
			break // the rest is long; ifctl manifest show -o text has it all
		}
		fmt.Fprintf(out, "     %s\n", line)
	}
	return nil
}

// streamToClient reads readings the sensor interface streams.
func streamToClient(ctx context.Context, out io.Writer, cl *iface.Client, ms map[string]*manifest.Manifest) error {
	heading(out, "2. Server → client: sensors.temperature streams Reading messages (proto codec)")
	conn, err := cl.Connect(ctx, "sensors.temperature", iface.WithManifest(ms["sensors.temperature"]), iface.WithCodec("proto"))
	if err != nil {
		return err
	}
	defer conn.Close("demo step done")
	for i := 0; i < 3; i++ {
		msg, err := conn.Recv(ctx)
		if err != nil {
			return err
		}
		r := msg.Type.New()
		if err := msg.Decode(r); err != nil {
			return err
		}
		text, _ := protojson.Marshal(r)
		fmt.Fprintf(out, "   #%d %s %s  (%d bytes on the wire)\n", msg.Seq, msg.Type.Name, text, len(msg.Data))
	}
	return nil
}

// sendLogs sends log records to the log sink and shows what it received.
func sendLogs(ctx context.Context, out io.Writer, cl *iface.Client, logged <-chan string) error {
	heading(out, "3. Client → server: log records to logs.sink (json codec, checked against its JSON Schema)")
	conn, err := cl.Connect(ctx, "logs.sink")
	if err != nil {
		return err
	}
	for i, level := range []string{"info", "warn", "error"} {
		rec := fmt.Sprintf(`{"time":"2026-11-22T10:00:0%dZ","level":%q,"message":"demo record %d"}`, i, level, i+1)
		if err := conn.Send(ctx, "Record", json.RawMessage(rec)); err != nil {
			return err
		}
	}
	for i := 0; i < 3; i++ {
		select {
		case rec := <-logged:
			fmt.Fprintf(out, "   server's handler got Record %s\n", rec)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return conn.Close("three records sent")
}

// requests makes a request/response and a request/stream on db.kv.
func requests(ctx context.Context, out io.Writer, cl *iface.Client, _ map[string]*manifest.Manifest) error {
	heading(out, "4. Requests on a duplex interface: db.kv Get → Value, Scan → stream of Row")
	conn, err := cl.Connect(ctx, "db.kv", iface.WithCodec("json"))
	if err != nil {
		return err
	}
	defer conn.Close("demo step done")
	reply, err := conn.Call(ctx, "Get", json.RawMessage(`{"key":"greeting"}`))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   Get {\"key\":\"greeting\"} → %s %s\n", reply.Type.Name, reply.Data)
	rows, err := conn.CallStream(ctx, "Scan", json.RawMessage(`{"start":"a","limit":3}`))
	if err != nil {
		return err
	}
	for {
		m, err := rows.Recv(ctx)
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(out, "   Scan → (end of stream)")
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   Scan → %s %s\n", m.Type.Name, m.Data)
	}
}

// creditStall shows a sender stopped by credits, then released.
func creditStall(ctx context.Context, out io.Writer, cl *iface.Client, _ map[string]*manifest.Manifest) error {
	heading(out, "5. Flood control: a client in pull mode grants 2 credits; the server wants to send 5")
	conn, err := cl.Connect(ctx, "sensors.temperature", iface.WithPullMode(), iface.WithCodec("json"))
	if err != nil {
		return err
	}
	defer conn.Close("demo step done")
	ctl, err := cl.Control(ctx, "sensors.temperature", iface.AttachTo(conn))
	if err != nil {
		return err
	}
	defer ctl.Close()
	conn.Request(2)
	for i := 0; i < 2; i++ {
		m, err := conn.Recv(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   received #%d\n", m.Seq)
	}
	// The server queues the rest; wait until it has tried to send all five.
	for {
		st, err := ctl.Stats(ctx)
		if err != nil {
			return err
		}
		if st.SentMessages == 2 && st.Queued == 3 {
			fmt.Fprintf(out, "   stalled: server sent %d, holds %d queued, has %d credits (stats over the control stream)\n",
				st.SentMessages, st.Queued, st.CreditsHeld)
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server did not stall as expected: %v", st)
		case <-time.After(5 * time.Millisecond):
		}
	}
	fmt.Fprintln(out, "   client grants 3 more credits:")
	conn.Request(3)
	for i := 0; i < 3; i++ {
		m, err := conn.Recv(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   received #%d\n", m.Seq)
	}
	return nil
}

// badInput shows how a message that fails its type is reported.
func badInput(ctx context.Context, out io.Writer, cl *iface.Client, _ map[string]*manifest.Manifest) error {
	heading(out, "6. A message that fails its schema is refused before it is sent")
	conn, err := cl.Connect(ctx, "logs.sink")
	if err != nil {
		return err
	}
	defer conn.Close("demo step done")
	err = conn.Send(ctx, "Record", json.RawMessage(`{"time":"yesterday","level":"loud","message":"x"}`))
	if err == nil {
		return errors.New("an invalid record was accepted")
	}
	fmt.Fprintf(out, "   %v\n", err)
	err = conn.Send(ctx, "Reading", json.RawMessage(`{}`))
	fmt.Fprintf(out, "   %v\n", err)
	return nil
}

func loadExamples(fsys fs.FS) (map[string]*manifest.Manifest, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		switch path.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	ms := map[string]*manifest.Manifest{}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		m, err := manifest.Parse(name, data, manifest.WithFS(fsys))
		if err != nil {
			return nil, fmt.Errorf("built-in example %s does not load:\n%w", name, err)
		}
		ms[m.Name] = m
	}
	return ms, nil
}
