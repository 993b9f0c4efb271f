package data_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/manifest"
)

func load(t testing.TB, name string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load("../testdata/manifests/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// Request/reply and request/stream over a bare pipe: the data plane needs
// no session.
func TestPipeCalls(t *testing.T) {
	m := load(t, "db.kv")
	_, cli := data.PipeForTest(t, m, data.Config{Handlers: map[string]data.Handler{
		"Get": func(ctx context.Context, msg *data.Message) error {
			var req struct{ Key string }
			if err := msg.Decode(&req); err != nil {
				return err
			}
			return msg.Reply(ctx, map[string]any{"key": req.Key, "found": true})
		},
		"Scan": func(ctx context.Context, msg *data.Message) error {
			for i := range 3 {
				if err := msg.Reply(ctx, map[string]any{"key": fmt.Sprint("k", i)}); err != nil {
					return err
				}
			}
			return msg.End(ctx)
		},
	}}, data.Config{})
	reply, err := cli.Call(ctx(t), "Get", json.RawMessage(`{"key":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	if reply.Type.Name != "Value" || !strings.Contains(string(reply.Data), `"key":"a"`) {
		t.Fatalf("reply %s %s", reply.Type.Name, reply.Data)
	}
	rs, err := cli.CallStream(ctx(t), "Scan", json.RawMessage(`{"start":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := rs.Recv(ctx(t))
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d replies, want 3", n)
	}
}

// A pull-mode receiver that grants 5 credits gets exactly 5 messages; the
// sender's sixth waits (block policy) until more credit comes.
func TestPipeCreditsBoundTheSender(t *testing.T) {
	m := load(t, "sensors.temperature")
	srv, cli := data.PipeForTest(t, m, data.Config{}, data.Config{Window: 16, AutoGrant: false})
	reading := json.RawMessage(`{"probe":"p1","celsius":21.5}`)
	if cli.Request(5) != 5 {
		t.Fatal("Request(5) granted less")
	}
	sent := make(chan error, 1)
	go func() {
		for range 6 {
			if err := srv.Send(ctx(t), "Reading", reading); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i := range 5 {
		if _, err := cli.Recv(ctx(t)); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cli.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a sixth message arrived without credit: %v", err)
	}
	if st := srv.Stats(); st.SentMessages != 5 || st.CreditsHeld != 0 {
		t.Fatalf("sender stats: sent %d, credits held %d; want 5 and 0", st.SentMessages, st.CreditsHeld)
	}
	cli.Request(1)
	if _, err := cli.Recv(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// Close ends both ends with the reason, as a typed code.
func TestPipeCloseReason(t *testing.T) {
	m := load(t, "logs.sink")
	srv, cli := data.PipeForTest(t, m, data.Config{}, data.Config{})
	cli.Close("bye")
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the server end did not see the close")
	}
	var ce *codes.CloseError
	if !errors.As(srv.Err(), &ce) || ce.Code != codes.NormalClose || ce.Reason != "bye" || !ce.Remote {
		t.Fatalf("server end: %v, want normal_close by peer: bye", srv.Err())
	}
}

// A handler refuses with a code of its choosing by returning a
// *codes.RemoteError; any other error is internal.
func TestHandlerRefusalCode(t *testing.T) {
	m := load(t, "db.kv")
	_, cli := data.PipeForTest(t, m, data.Config{Handlers: map[string]data.Handler{
		"Get": func(ctx context.Context, msg *data.Message) error {
			return &codes.RemoteError{Code: codes.NotFound, Reason: "no such key"}
		},
		"Put": func(ctx context.Context, msg *data.Message) error {
			return errors.New("disk full")
		},
	}}, data.Config{})
	_, err := cli.Call(ctx(t), "Get", json.RawMessage(`{"key":"a"}`))
	var re *codes.RemoteError
	if !errors.As(err, &re) || re.Code != codes.NotFound || re.Reason != "no such key" {
		t.Fatalf("Get: %v, want not_found: no such key", err)
	}
	_, err = cli.Call(ctx(t), "Put", json.RawMessage(`{"key":"a","value":"YQ=="}`))
	if codes.Of(err) != codes.Internal || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Put: %v, want internal: disk full", err)
	}
}
