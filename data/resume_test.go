package data_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/manifest"
)

// resumeManifest: duplex, small credits (so that credit runs out often
// around the breaks), a streamed request (replies, then END).
func resumeManifest(t testing.TB, credits int) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("resume.yaml", fmt.Appendf(nil, `
ifkit: 1
name: test.resume
version: 1.0.0
direction: duplex
codecs: [proto]
protos: [google/protobuf/wrappers.proto]
messages:
  send:
    Out: {proto: google.protobuf.BytesValue}
  recv:
    In: {proto: google.protobuf.BytesValue}
    Ask:
      proto: google.protobuf.BytesValue
      reply: {type: Out, stream: true}
flow: {credits: %d, max_message_bytes: 1048576, on_exhausted: block}
`, credits), manifest.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// resumablePair is a server and a client end over a pipe that the test
// breaks at will; resume puts both on a new pipe.
type resumablePair struct {
	t        *testing.T
	srv, cli *data.Conn
	mu       sync.Mutex
	a, b     net.Conn
	detached chan *data.Conn
	breaks   int
}

func newResumablePair(t *testing.T, m *manifest.Manifest, server data.Config) *resumablePair {
	p := &resumablePair{t: t, detached: make(chan *data.Conn, 2)}
	p.a, p.b = net.Pipe()
	onDetach := func(c *data.Conn, cause *codes.CloseError) { p.detached <- c }
	w := int64(m.Flow.Credits)
	server.ID, server.Manifest, server.Codec, server.Server = 7, m, protoCodec(t), true
	server.SendCredit, server.Window, server.AutoGrant = w, w, true
	server.Resumable, server.OnDetach = true, onDetach
	client := data.Config{ID: 7, Manifest: m, Codec: protoCodec(t), SendCredit: w, Window: w, AutoGrant: true, Resumable: true, OnDetach: onDetach}
	p.srv = data.New(p.a, nil, server).Start()
	p.cli = data.New(p.b, nil, client).Start()
	t.Cleanup(func() {
		p.cli.Close("test over")
		p.srv.Close("test over")
	})
	return p
}

// breakTransport closes both ends of the current pipe, mid-whatever.
func (p *resumablePair) breakTransport() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.a.Close()
	p.b.Close()
	p.breaks++
}

// resume waits until both ends have detached, then resumes them on a new
// pipe with each other's state.
func (p *resumablePair) resume(ctx context.Context) error {
	for range 2 {
		select {
		case <-p.detached:
		case <-ctx.Done():
			return fmt.Errorf("waiting for both ends to detach: %w (server: %v, client: %v)", ctx.Err(), p.srv.Err(), p.cli.Err())
		}
	}
	ss, err := p.srv.ResumeState()
	if err != nil {
		return err
	}
	cs, err := p.cli.ResumeState()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.a, p.b = net.Pipe()
	a, b := p.a, p.b
	p.mu.Unlock()
	if err := p.srv.Resume(a, nil, cs, nil, nil); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := p.cli.Resume(b, nil, ss, nil, nil); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

func body(i int) []byte {
	n := 8 + i%97
	if i%50 == 0 {
		n = 20000 // a large one now and then: written alone
	}
	return payload(i, n)
}

func number(b []byte) int {
	var i int
	fmt.Sscan(string(bytes.TrimRight(b[:min(len(b), 8)], string(b[len(b)-1:]))), &i)
	return i
}

// Both ways at once, with streamed calls, across many forced breaks of the
// transport: every message arrives exactly once and in order, every call
// gets all its replies and its END.
func TestResumeAcrossBreaks(t *testing.T) {
	m := resumeManifest(t, 8)
	const n = 2000
	p := newResumablePair(t, m, data.Config{Handlers: map[string]data.Handler{
		"Ask": func(ctx context.Context, msg *data.Message) error {
			for k := range 3 {
				if err := msg.Reply(ctx, wrapperspb.Bytes(fmt.Appendf(nil, "reply %d", k))); err != nil {
					return err
				}
			}
			return msg.End(ctx)
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	errs := make(chan error, 8)
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	send := func(c *data.Conn, typ string) func() error {
		return func() error {
			for i := 1; i <= n; i++ {
				if err := c.Send(ctx, typ, wrapperspb.Bytes(body(i))); err != nil {
					return fmt.Errorf("send %s %d: %w", typ, i, err)
				}
			}
			return nil
		}
	}
	recv := func(c *data.Conn, typ string) func() error {
		return func() error {
			for i := 1; i <= n; i++ {
				msg, err := c.Recv(ctx)
				if err != nil {
					return fmt.Errorf("receiving %s %d: %w", typ, i, err)
				}
				var v wrapperspb.BytesValue
				if err := msg.Decode(&v); err != nil {
					return err
				}
				if !bytes.Equal(v.Value, body(i)) {
					return fmt.Errorf("%s message %d: got message %d (%d bytes): lost, repeated or out of order", typ, i, number(v.Value), len(v.Value))
				}
			}
			return nil
		}
	}
	run(send(p.srv, "Out"))
	run(recv(p.srv, "In"))
	run(send(p.cli, "In"))
	run(recv(p.cli, "Out"))
	// Calls, each with three replies and an END, all along. The replies
	// share the server's Out stream only by type: the call sees its own.
	calls := 0
	run(func() error {
		for ; calls < 60 && ctx.Err() == nil; calls++ {
			st, err := p.cli.CallStream(ctx, "Ask", wrapperspb.Bytes([]byte("q")))
			if err != nil {
				return fmt.Errorf("call %d: %w", calls, err)
			}
			k := 0
			for {
				_, err := st.Recv(ctx)
				if err != nil {
					if !errors.Is(err, io.EOF) {
						return fmt.Errorf("call %d after %d replies: %w", calls, k, err)
					}
					break
				}
				k++
			}
			if k != 3 {
				return fmt.Errorf("call %d: %d replies, want 3", calls, k)
			}
		}
		return nil
	})
	// The breaker: break, resume, at random moments, until the streams end.
	doneStreams := make(chan struct{})
	go func() { wg.Wait(); close(doneStreams) }()
	rng := rand.New(rand.NewPCG(1, 2))
	for {
		select {
		case <-doneStreams:
		case <-time.After(time.Duration(rng.IntN(3000)) * time.Microsecond):
			p.breakTransport()
			if err := p.resume(ctx); err != nil {
				cancel()
				<-doneStreams
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				t.Fatalf("resume after break %d: %v", p.breaks, err)
			}
			continue
		}
		break
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.breaks < 5 {
		t.Errorf("only %d breaks: the test did not test much", p.breaks)
	}
	t.Logf("%d messages each way and %d calls across %d breaks; server resumed %d times", n, calls, p.breaks, p.srv.ResumeStats().Resumes)
	if got := p.srv.ResumeStats().Resumes; got != uint64(p.breaks) {
		t.Errorf("server resumed %d times for %d breaks", got, p.breaks)
	}
}

// A connection resumes once per break: a second Resume (a client that
// tried again while its first attempt was answered) is refused and
// changes nothing.
func TestResumeOnlyOnce(t *testing.T) {
	m := resumeManifest(t, 8)
	p := newResumablePair(t, m, data.Config{})
	ctx := ctx(t)
	if err := p.cli.Send(ctx, "In", wrapperspb.Bytes([]byte("before"))); err != nil {
		t.Fatal(err)
	}
	if _, err := p.srv.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	p.breakTransport()
	if err := p.resume(ctx); err != nil {
		t.Fatal(err)
	}
	x, y := net.Pipe()
	defer x.Close()
	defer y.Close()
	if err := p.srv.Resume(x, nil, data.ResumeState{}, nil, nil); err == nil {
		t.Fatal("a second Resume of an attached connection was accepted")
	}
	if err := p.cli.Send(ctx, "In", wrapperspb.Bytes([]byte("after"))); err != nil {
		t.Fatal(err)
	}
	msg, err := p.srv.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var v wrapperspb.BytesValue
	msg.Decode(&v)
	if string(v.Value) != "after" || msg.Seq != 2 {
		t.Fatalf("after the resume: message %d %q", msg.Seq, v.Value)
	}
}
